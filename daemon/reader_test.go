package daemon

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/internal/tcptest"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	return tcptest.Pair(t, tcptest.Listen(t))
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
