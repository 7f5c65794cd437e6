package sender

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/daemon/internal/bufpool"
	"github.com/wsd-dev/wsd/internal/tcptest"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	return tcptest.Pair(t, tcptest.Listen(t))
}

// rawConn returns nc's raw socket, or nil (net.Pipe).
func rawConn(nc net.Conn) syscall.RawConn {
	if sc, ok := nc.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			return rc
		}
	}
	return nil
}

// newWriter returns a writer to nc without a write timeout.
func newWriter(nc net.Conn) *writer { return &writer{nc: nc, rc: rawConn(nc)} }

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

func TestWriter(t *testing.T) {
	a, b := tcpPair(t)
	w := newWriter(a)
	var want bytes.Buffer
	write := func(p []byte) {
		t.Helper()
		if n, err := w.Write(p); err != nil || n != len(p) {
			t.Fatalf("write: %d %v", n, err)
		}
		want.Write(p)
	}
	write([]byte("direct ")) // outside a batch: straight through
	w.begin()
	write([]byte("batched "))
	write([]byte("frames "))
	if w.pending() != len("batched frames ") {
		t.Fatalf("pending %d", w.pending())
	}
	write(bytes.Repeat([]byte("z"), bufpool.ChunkSize)) // overflow: writev
	write([]byte("tail"))
	if err := w.end(); err != nil {
		t.Fatal(err)
	}
	if w.buf != nil {
		t.Fatal("chunk kept after end")
	}
	got := make([]byte, want.Len())
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(b, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("bytes differ")
	}
	// Errors stick.
	a.Close()
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("write after close succeeded")
	}
	if _, err := w.Write([]byte("y")); err == nil {
		t.Fatal("error did not stick")
	}
}

// smallPair is a loopback TCP pair whose sender (a) has a small send
// buffer, so that its socket fills up quickly while nobody reads b. (A
// tiny receive buffer as well would make loopback crawl once b reads: a
// window below the MSS waits for the persist timer.)
func smallPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	a, b := tcpPair(t)
	if err := a.(*net.TCPConn).SetWriteBuffer(4096); err != nil {
		t.Fatal(err)
	}
	return a, b
}

// fillSocket writes to nc without waiting until its socket takes no more,
// and returns what it wrote.
func fillSocket(t *testing.T, nc net.Conn) []byte {
	t.Helper()
	rc, err := nc.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	junk := bytes.Repeat([]byte("fill"), 256)
	err = rc.Write(func(fd uintptr) bool {
		for {
			n, err := syscall.Write(int(fd), junk)
			if err == syscall.EINTR {
				continue
			}
			if err != nil || n <= 0 {
				return true
			}
			out = append(out, junk[:n]...)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("the socket took nothing")
	}
	return out
}

// readN reads exactly n bytes from nc.
func readN(t *testing.T, nc net.Conn, n int) []byte {
	t.Helper()
	got := make([]byte, n)
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(nc, got); err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	return got
}

// pattern returns n bytes that differ from those of any other tag.
func pattern(tag byte, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = tag + byte(i*7)
	}
	return p
}

func TestWriterNonBlockingFull(t *testing.T) {
	a, b := tcpPair(t)
	w := newWriter(a)
	// With nothing held, every frame of a non-blocking batch goes out at
	// once, small or larger than a chunk: the peer reads it before endNB.
	for _, batch := range [][][]byte{
		{[]byte("one "), []byte("two "), pattern(1, 3000)},
		{pattern(2, bufpool.ChunkSize+100)},
		{[]byte("three "), pattern(3, bufpool.ChunkSize)},
	} {
		if !w.beginNB() {
			t.Fatal("beginNB refused")
		}
		for _, p := range batch {
			if n, err := w.Write(p); err != nil || n != len(p) {
				t.Fatalf("write: %d %v", n, err)
			}
			if w.pending() != 0 {
				t.Fatalf("%d bytes held with room in the socket", w.pending())
			}
			if got := readN(t, b, len(p)); !bytes.Equal(got, p) {
				t.Fatal("bytes differ")
			}
		}
		left, err := w.endNB()
		if err != nil || left {
			t.Fatalf("endNB: left %v, %v", left, err)
		}
		if w.buf != nil || w.pending() != 0 {
			t.Fatal("buffer kept after a complete write")
		}
	}
}

func TestWriterNonBlockingPartial(t *testing.T) {
	a, b := smallPair(t)
	w := newWriter(a)
	// A batch far larger than the socket can take: endNB returns with a
	// remainder, without waiting.
	first := pattern(1, 1<<20)
	if !w.beginNB() {
		t.Fatal("beginNB refused")
	}
	w.Write([]byte("head "))
	w.Write(first)
	start := time.Now()
	left, err := w.endNB()
	if err != nil || !left {
		t.Fatalf("endNB: left %v, %v", left, err)
	}
	if time.Since(start) > time.Second {
		t.Fatal("endNB waited")
	}
	rem := w.pending()
	if rem == 0 || rem >= len(first) {
		t.Fatalf("remainder of %d bytes", rem)
	}
	// A control frame written meanwhile (outside a batch) goes after the
	// remainder: the reader must drain for it to complete.
	done := make(chan error, 1)
	go func() {
		_, err := w.Write([]byte(" pong"))
		done <- err
	}()
	want := append(append([]byte("head "), first...), " pong"...)
	got := readN(t, b, len(want))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the remainder did not go first")
	}
	if w.pending() != 0 || w.buf != nil {
		t.Fatal("remainder kept after it was written")
	}

	// Again, this time finished by flush (what the writer goroutine does)
	// and followed by a blocking batch.
	second := pattern(2, 1<<20)
	w.beginNB()
	w.Write(second)
	if left, err := w.endNB(); err != nil || !left {
		t.Fatalf("endNB: left %v, %v", left, err)
	}
	go func() {
		err := w.flush()
		if err == nil {
			w.begin()
			w.Write([]byte(" batched"))
			err = w.end()
		}
		done <- err
	}()
	want = append(second, " batched"...)
	if got := readN(t, b, len(want)); !bytes.Equal(got, want) {
		t.Fatal("bytes differ after flush")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestWriterNonBlockingEAGAIN(t *testing.T) {
	a, b := smallPair(t)
	w := newWriter(a)
	filled := fillSocket(t, a)
	// The socket takes nothing: everything is held, nothing is lost.
	msg := []byte("frame after a full socket")
	w.beginNB()
	w.Write(msg)
	left, err := w.endNB()
	if err != nil || !left || w.pending() != len(msg) {
		t.Fatalf("endNB: left %v, %v, pending %d", left, err, w.pending())
	}
	// A second non-blocking batch appends to what is held.
	w.beginNB()
	w.Write([]byte(" and another"))
	if left, err := w.endNB(); err != nil || !left {
		t.Fatalf("endNB: left %v, %v", left, err)
	}
	// beginNB refuses while a blocking write (a control frame waiting for
	// the full socket) holds the writer.
	done := make(chan error, 1)
	// (Large enough that it cannot complete while b does not read, even
	// if the kernel found room for a little more after fillSocket.)
	closing := append([]byte(" close"), pattern(9, 4<<20)...)
	go func() {
		_, err := w.Write(closing)
		done <- err
	}()
	// Wait until the write holds the writer (blocked on the full socket)
	// without opening batches meanwhile: a write that starts inside a
	// non-blocking batch joins it and does not block.
	deadline := time.Now().Add(5 * time.Second)
	for w.mu.TryLock() {
		w.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("the write never took the writer")
		}
		time.Sleep(time.Millisecond)
	}
	if w.beginNB() {
		t.Fatal("beginNB did not refuse while a write was blocked")
	}
	want := append(append(filled, "frame after a full socket and another"...), closing...)
	if got := readN(t, b, len(want)); !bytes.Equal(got, want) {
		t.Fatal("bytes differ")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestWriterNonBlockingErrors(t *testing.T) {
	// A write deadline that has passed fails a non-blocking write as it
	// fails any other, and the error sticks.
	a, _ := tcpPair(t)
	w := newWriter(a)
	a.SetWriteDeadline(time.Now().Add(-time.Second))
	w.beginNB()
	w.Write([]byte("late"))
	left, err := w.endNB()
	if !isTimeout(err) || left {
		t.Fatalf("endNB after the deadline: left %v, %v", left, err)
	}
	a.SetWriteDeadline(time.Time{})
	if _, err := w.Write([]byte("x")); !isTimeout(err) {
		t.Fatalf("error did not stick: %v", err)
	}
	if err := w.flush(); !isTimeout(err) {
		t.Fatalf("flush: %v", err)
	}
	w.beginNB()
	if _, err := w.Write([]byte("y")); !isTimeout(err) {
		t.Fatalf("write in a batch: %v", err)
	}
	if _, err := w.endNB(); !isTimeout(err) {
		t.Fatalf("endNB: %v", err)
	}
	if w.buf != nil {
		t.Fatal("buffer kept by a broken writer")
	}

	// A peer that went away: the error is the system call's, and sticks.
	a, b := tcpPair(t)
	w = newWriter(a)
	b.(*net.TCPConn).SetLinger(0)
	b.Close() // RST
	var werr error
	for i := 0; i < 100 && werr == nil; i++ {
		w.beginNB()
		w.Write([]byte("to nobody"))
		_, werr = w.endNB()
		time.Sleep(time.Millisecond)
	}
	if werr == nil || isTimeout(werr) {
		t.Fatalf("write to a reset connection: %v", werr)
	}
	if _, err := w.Write([]byte("z")); err != werr {
		t.Fatalf("error did not stick: %v", err)
	}

	// A connection closed locally: RawConn refuses.
	a, _ = tcpPair(t)
	w = newWriter(a)
	a.Close()
	w.beginNB()
	w.Write([]byte("closed"))
	if _, err := w.endNB(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("endNB on a closed connection: %v", err)
	}

	// Without a raw socket there are no non-blocking batches.
	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	if newWriter(p1).beginNB() {
		t.Fatal("non-blocking batch on a net.Pipe")
	}
}
