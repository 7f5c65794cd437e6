package protocol

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// closeReadServer starts a server that calls CloseRead on each connection
// and then runs act; it reports the cause of the context CloseRead
// returned once that is done.
func closeReadServer(t *testing.T, opts *AcceptOptions, act func(ctx context.Context, c *Conn)) (string, <-chan error) {
	t.Helper()
	causes := make(chan error, 1)
	url := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, opts)
		if err != nil {
			causes <- err
			return
		}
		defer c.CloseNow()
		ctx := c.CloseRead(context.Background())
		again := c.CloseRead(context.Background()) // starts no second reader
		if act != nil {
			act(ctx, c)
		}
		<-ctx.Done()
		select {
		case <-again.Done():
			causes <- context.Cause(ctx)
		case <-time.After(10 * time.Second):
			causes <- errors.New("the second CloseRead's context outlived the connection")
		}
	}))
	return url, causes
}

func TestCloseReadPeerCloses(t *testing.T) {
	url, causes := closeReadServer(t, nil, nil)
	ctx := testCtx(t)
	c, _, err := Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Close(StatusNormalClosure, "done"); err != nil {
		t.Fatalf("close not answered: %v", err)
	}
	var ce *CloseError
	if cause := <-causes; !errors.As(cause, &ce) || ce.Code != StatusNormalClosure || ce.Local {
		t.Fatalf("cause %v", cause)
	}
}

func TestCloseReadDataMessage(t *testing.T) {
	url, causes := closeReadServer(t, nil, nil)
	ctx := testCtx(t)
	c, _, err := Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, TextMessage, []byte("unexpected")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Read(ctx); closeCode(err) != StatusPolicyViolation {
		t.Fatalf("read %v, want a 1008 close", err)
	}
	var ce *CloseError
	if cause := <-causes; !errors.As(cause, &ce) || ce.Code != StatusPolicyViolation || !ce.Local {
		t.Fatalf("cause %v", cause)
	}
}

// TestCloseReadControlFrames checks that a server that never reads still
// gets its pongs and completes a close it starts.
func TestCloseReadControlFrames(t *testing.T) {
	pongs := make(chan string, 1)
	opts := &AcceptOptions{Options: Options{OnPong: func(p []byte) { pongs <- string(p) }}}
	url, causes := closeReadServer(t, opts, func(ctx context.Context, c *Conn) {
		if err := c.Ping(ctx, []byte("are you there")); err != nil {
			t.Errorf("ping: %v", err)
			return
		}
		if p := <-pongs; p != "are you there" {
			t.Errorf("pong %q", p)
		}
		if err := c.Close(StatusGoingAway, "bye"); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	ctx := testCtx(t)
	c, _, err := Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if _, _, err := c.Read(ctx); closeCode(err) != StatusGoingAway {
		t.Fatalf("read %v, want the server's 1001", err)
	}
	var ce *CloseError
	if cause := <-causes; !errors.As(cause, &ce) || ce.Code != StatusGoingAway {
		t.Fatalf("cause %v", cause)
	}
}

// TestCloseReadCancelled checks that ending CloseRead's context ends the
// reading and closes the connection, as a cancelled Read does.
func TestCloseReadCancelled(t *testing.T) {
	client, server := net.Pipe() // a peer that sends nothing
	defer client.Close()
	c := newConn(server, bufio.NewReader(server), bufio.NewWriter(server), false, nil)
	parent, cancel := context.WithCancel(context.Background())
	ctx := c.CloseRead(parent)
	cancel()
	<-ctx.Done()
	<-c.Done()
	if cause := context.Cause(ctx); !errors.Is(cause, context.Canceled) {
		t.Fatalf("cause %v", cause)
	}
	if _, err := server.Write([]byte{0}); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("connection left open: write %v", err)
	}
}
