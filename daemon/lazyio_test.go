package daemon

import (
	"bytes"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			acc <- nil
			return
		}
		acc <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-acc
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestLazyReader(t *testing.T) {
	a, b := tcpPair(t)
	lr := newLazyReader(b, rawConn(b))
	lr.seed([]byte("seed:"))
	data := bytes.Repeat([]byte("0123456789"), 10000) // 100 KB, more than a chunk
	go func() {
		for p := data; len(p) > 0; {
			n := min(len(p), 7000)
			if _, err := a.Write(p[:n]); err != nil {
				return
			}
			p = p[n:]
		}
	}()
	got := make([]byte, 0, len(data)+5)
	buf := make([]byte, 16) // as the protocol's bufio.Reader asks
	for len(got) < len(data)+5 {
		n, err := lr.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
	if !bytes.Equal(got, append([]byte("seed:"), data...)) {
		t.Fatal("bytes differ")
	}
	if lr.buf != nil || lr.buffered() != 0 {
		t.Fatal("chunk kept after everything was read")
	}
	// Idle: waitReadable returns once input arrives, without consuming it.
	done := make(chan struct{})
	go func() { lr.waitReadable(); close(done) }()
	select {
	case <-done:
		t.Fatal("waitReadable returned without input")
	case <-time.After(50 * time.Millisecond):
	}
	if _, err := a.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	<-done
	if n, err := lr.Read(buf); err != nil || n != 1 || buf[0] != 'x' {
		t.Fatalf("read after wait: %d %v", n, err)
	}
	// Deadlines apply; EOF is reported.
	b.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := lr.Read(buf); !isTimeout(err) {
		t.Fatalf("deadline: %v", err)
	}
	b.SetReadDeadline(time.Time{})
	a.Close()
	if _, err := lr.Read(buf); err != io.EOF {
		t.Fatalf("after peer close: %v", err)
	}
}

func TestLazyWriter(t *testing.T) {
	a, b := tcpPair(t)
	lw := newLazyWriter(a, rawConn(a), nil)
	var want bytes.Buffer
	write := func(p []byte) {
		t.Helper()
		if n, err := lw.Write(p); err != nil || n != len(p) {
			t.Fatalf("write: %d %v", n, err)
		}
		want.Write(p)
	}
	write([]byte("direct ")) // outside a batch: straight through
	lw.begin()
	write([]byte("batched "))
	write([]byte("frames "))
	if lw.pending() != len("batched frames ") {
		t.Fatalf("pending %d", lw.pending())
	}
	write(bytes.Repeat([]byte("z"), chunkSize)) // overflow: writev
	write([]byte("tail"))
	if err := lw.end(); err != nil {
		t.Fatal(err)
	}
	if lw.buf != nil {
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
	if _, err := lw.Write([]byte("x")); err == nil {
		t.Fatal("write after close succeeded")
	}
	if _, err := lw.Write([]byte("y")); err == nil {
		t.Fatal("error did not stick")
	}
}

func TestSendQueue(t *testing.T) {
	var q sendQueue
	for i := range 100 {
		q.push(item{kind: itemText, data: []byte{byte(i)}, at: int64(i + 1)})
		if i%3 == 0 {
			it, ok := q.pop()
			if !ok {
				t.Fatal("pop from non-empty queue")
			}
			_ = it
		}
	}
	if q.oldest() == 0 {
		t.Fatal("oldest of a non-empty queue")
	}
	prev := -1
	for {
		it, ok := q.pop()
		if !ok {
			break
		}
		if int(it.data[0]) <= prev {
			t.Fatal("out of order")
		}
		prev = int(it.data[0])
	}
	if q.items != nil || q.len() != 0 || q.oldest() != 0 {
		t.Fatal("empty queue keeps storage")
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

func TestLazyWriterNonBlockingFull(t *testing.T) {
	a, b := tcpPair(t)
	lw := newLazyWriter(a, rawConn(a), nil)
	// With nothing held, every frame of a non-blocking batch goes out at
	// once, small or larger than a chunk: the peer reads it before endNB.
	for _, batch := range [][][]byte{
		{[]byte("one "), []byte("two "), pattern(1, 3000)},
		{pattern(2, chunkSize+100)},
		{[]byte("three "), pattern(3, chunkSize)},
	} {
		if !lw.beginNB() {
			t.Fatal("beginNB refused")
		}
		for _, p := range batch {
			if n, err := lw.Write(p); err != nil || n != len(p) {
				t.Fatalf("write: %d %v", n, err)
			}
			if lw.pending() != 0 {
				t.Fatalf("%d bytes held with room in the socket", lw.pending())
			}
			if got := readN(t, b, len(p)); !bytes.Equal(got, p) {
				t.Fatal("bytes differ")
			}
		}
		left, err := lw.endNB()
		if err != nil || left {
			t.Fatalf("endNB: left %v, %v", left, err)
		}
		if lw.buf != nil || lw.pending() != 0 {
			t.Fatal("buffer kept after a complete write")
		}
	}
}

func TestLazyWriterNonBlockingPartial(t *testing.T) {
	a, b := smallPair(t)
	lw := newLazyWriter(a, rawConn(a), nil)
	// A batch far larger than the socket can take: endNB returns with a
	// remainder, without waiting.
	first := pattern(1, 1<<20)
	if !lw.beginNB() {
		t.Fatal("beginNB refused")
	}
	lw.Write([]byte("head "))
	lw.Write(first)
	start := time.Now()
	left, err := lw.endNB()
	if err != nil || !left {
		t.Fatalf("endNB: left %v, %v", left, err)
	}
	if time.Since(start) > time.Second {
		t.Fatal("endNB waited")
	}
	rem := lw.pending()
	if rem == 0 || rem >= len(first) {
		t.Fatalf("remainder of %d bytes", rem)
	}
	// A control frame written meanwhile (outside a batch) goes after the
	// remainder: the reader must drain for it to complete.
	done := make(chan error, 1)
	go func() {
		_, err := lw.Write([]byte(" pong"))
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
	if lw.pending() != 0 || lw.buf != nil {
		t.Fatal("remainder kept after it was written")
	}

	// Again, this time finished by flush (what the writer goroutine does)
	// and followed by a blocking batch.
	second := pattern(2, 1<<20)
	lw.beginNB()
	lw.Write(second)
	if left, err := lw.endNB(); err != nil || !left {
		t.Fatalf("endNB: left %v, %v", left, err)
	}
	go func() {
		err := lw.flush()
		if err == nil {
			lw.begin()
			lw.Write([]byte(" batched"))
			err = lw.end()
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

func TestLazyWriterNonBlockingEAGAIN(t *testing.T) {
	a, b := smallPair(t)
	lw := newLazyWriter(a, rawConn(a), nil)
	filled := fillSocket(t, a)
	// The socket takes nothing: everything is held, nothing is lost.
	msg := []byte("frame after a full socket")
	lw.beginNB()
	lw.Write(msg)
	left, err := lw.endNB()
	if err != nil || !left || lw.pending() != len(msg) {
		t.Fatalf("endNB: left %v, %v, pending %d", left, err, lw.pending())
	}
	// A second non-blocking batch appends to what is held.
	lw.beginNB()
	lw.Write([]byte(" and another"))
	if left, err := lw.endNB(); err != nil || !left {
		t.Fatalf("endNB: left %v, %v", left, err)
	}
	// beginNB refuses while a blocking write (a control frame waiting for
	// the full socket) holds the writer.
	done := make(chan error, 1)
	go func() {
		_, err := lw.Write([]byte(" close"))
		done <- err
	}()
	// Wait until the write holds the writer (blocked on the full socket)
	// without opening batches meanwhile: a write that starts inside a
	// non-blocking batch joins it and does not block.
	deadline := time.Now().Add(5 * time.Second)
	for lw.mu.TryLock() {
		lw.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("the write never took the writer")
		}
		time.Sleep(time.Millisecond)
	}
	if lw.beginNB() {
		t.Fatal("beginNB did not refuse while a write was blocked")
	}
	want := append(filled, "frame after a full socket and another close"...)
	if got := readN(t, b, len(want)); !bytes.Equal(got, want) {
		t.Fatal("bytes differ")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestLazyWriterNonBlockingErrors(t *testing.T) {
	// A write deadline that has passed fails a non-blocking write as it
	// fails any other, and the error sticks.
	a, _ := tcpPair(t)
	lw := newLazyWriter(a, rawConn(a), nil)
	a.SetWriteDeadline(time.Now().Add(-time.Second))
	lw.beginNB()
	lw.Write([]byte("late"))
	left, err := lw.endNB()
	if !isTimeout(err) || left {
		t.Fatalf("endNB after the deadline: left %v, %v", left, err)
	}
	a.SetWriteDeadline(time.Time{})
	if _, err := lw.Write([]byte("x")); !isTimeout(err) {
		t.Fatalf("error did not stick: %v", err)
	}
	if err := lw.flush(); !isTimeout(err) {
		t.Fatalf("flush: %v", err)
	}
	lw.beginNB()
	if _, err := lw.Write([]byte("y")); !isTimeout(err) {
		t.Fatalf("write in a batch: %v", err)
	}
	if _, err := lw.endNB(); !isTimeout(err) {
		t.Fatalf("endNB: %v", err)
	}
	if lw.buf != nil {
		t.Fatal("buffer kept by a broken writer")
	}

	// A peer that went away: the error is the system call's, and sticks.
	a, b := tcpPair(t)
	lw = newLazyWriter(a, rawConn(a), nil)
	b.(*net.TCPConn).SetLinger(0)
	b.Close() // RST
	var werr error
	for i := 0; i < 100 && werr == nil; i++ {
		lw.beginNB()
		lw.Write([]byte("to nobody"))
		_, werr = lw.endNB()
		time.Sleep(time.Millisecond)
	}
	if werr == nil || isTimeout(werr) {
		t.Fatalf("write to a reset connection: %v", werr)
	}
	if _, err := lw.Write([]byte("z")); err != werr {
		t.Fatalf("error did not stick: %v", err)
	}

	// A connection closed locally: RawConn refuses.
	a, _ = tcpPair(t)
	lw = newLazyWriter(a, rawConn(a), nil)
	a.Close()
	lw.beginNB()
	lw.Write([]byte("closed"))
	if _, err := lw.endNB(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("endNB on a closed connection: %v", err)
	}

	// Without a raw socket there are no non-blocking batches.
	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	if newLazyWriter(p1, rawConn(p1), nil).beginNB() {
		t.Fatal("non-blocking batch on a net.Pipe")
	}
}
