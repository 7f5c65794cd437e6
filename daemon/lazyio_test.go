package daemon

import (
	"bytes"
	"io"
	"net"
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
	lr := newLazyReader(b)
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
	lw := newLazyWriter(a)
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
