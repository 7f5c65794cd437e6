package wsdtest

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/protocol"
)

// Client is a WebSocket client under test whose messages are read as they
// come: Msgs gets each one's payload, prefixed with "text:" or "binary:"
// when the client was dialed typed; Closed gets the close it saw (nil when
// the connection ended without a close frame). It is closed when the test
// ends.
type Client struct {
	Conn   *protocol.Conn
	Msgs   chan string
	Closed chan *protocol.CloseError
}

// Dial connects a Client to url, within 5 seconds.
func Dial(t testing.TB, url string, typed bool) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := protocol.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	w := &Client{Conn: c, Msgs: make(chan string, 256), Closed: make(chan *protocol.CloseError, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			typ, p, err := c.Read(context.Background())
			if err != nil {
				var ce *protocol.CloseError
				if !errors.As(err, &ce) {
					ce = nil
				}
				w.Closed <- ce
				return
			}
			msg := string(p)
			if typed {
				prefix := "text:"
				if typ == protocol.BinaryMessage {
					prefix = "binary:"
				}
				msg = prefix + msg
			}
			w.Msgs <- msg
		}
	}()
	t.Cleanup(func() {
		if err := c.CloseNow(); err != nil && !errors.Is(err, net.ErrClosed) {
			t.Logf("close client: %v", err)
		}
		<-done
	})
	return w
}

// Expect waits (5 seconds at most) for the next message and fails the
// test unless it is want.
func (w *Client) Expect(t testing.TB, want string) {
	t.Helper()
	select {
	case got := <-w.Msgs:
		if got != want {
			t.Fatalf("client got %q, want %q", got, want)
		}
	case ce := <-w.Closed:
		t.Fatalf("client closed (%v) waiting for %q", ce, want)
	case <-time.After(5 * time.Second):
		t.Fatalf("client: no message, want %q", want)
	}
}
