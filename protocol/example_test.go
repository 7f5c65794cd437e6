package protocol_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/wsd-dev/wsd/protocol"
)

// An echo server in a net/http handler.
func ExampleAccept() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := protocol.Accept(w, r, &protocol.AcceptOptions{Subprotocols: []string{"echo"}})
		if err != nil {
			return // Accept answered the client already
		}
		defer c.CloseNow()
		ctx := r.Context()
		var buf []byte
		for {
			typ, msg, err := c.ReadInto(ctx, buf)
			if err != nil {
				return // the client closed, or the connection failed
			}
			if err := c.Write(ctx, typ, msg); err != nil {
				return
			}
			buf = msg
		}
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := protocol.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &protocol.DialOptions{Subprotocols: []string{"echo"}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, protocol.TextMessage, []byte("hello")); err != nil {
		log.Fatal(err)
	}
	typ, msg, err := c.Read(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Subprotocol(), typ, string(msg))
	if err := c.Close(protocol.StatusNormalClosure, ""); err != nil {
		log.Fatal(err)
	}
	// Output: echo text hello
}

// A client that sends a message, reads the answer and closes. The server
// here greets and then only waits for the close (CloseRead).
func ExampleDial() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := protocol.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := c.CloseRead(r.Context())
		if err := c.Write(ctx, protocol.TextMessage, []byte("hello, "+r.Header.Get("X-Name"))); err != nil {
			return
		}
		<-ctx.Done() // the client closed
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opts := &protocol.DialOptions{Header: http.Header{"X-Name": {"gopher"}}}
	c, resp, err := protocol.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/greet", opts)
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	fmt.Println(resp.Status)
	_, msg, err := c.Read(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(msg))
	if err := c.Close(protocol.StatusNormalClosure, "bye"); err != nil {
		log.Fatal(err)
	}
	// Output:
	// 101 Switching Protocols
	// hello, gopher
}

// A server with its own listener loop: it reads the request head itself,
// refuses what it does not route, and upgrades the rest.
func ExampleUpgrade() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	heads := sync.Pool{New: func() any { return protocol.NewHeadReader(4096) }}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	wg.Go(func() { // the accept loop, until ln is closed
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { serveRaw(nc, &heads) })
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws://" + ln.Addr().String()
	_, resp, err := protocol.Dial(ctx, url+"/elsewhere", nil)
	fmt.Println(errors.Is(err, protocol.ErrHandshake), resp.Status)

	c, _, err := protocol.Dial(ctx, url+"/echo", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, protocol.TextMessage, []byte("hello")); err != nil {
		log.Fatal(err)
	}
	_, msg, err := c.Read(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(msg))
	if err := c.Close(protocol.StatusNormalClosure, ""); err != nil {
		log.Fatal(err)
	}
	// Output:
	// true 404 Not Found
	// hello
}

// serveRaw runs one connection of ExampleUpgrade.
func serveRaw(nc net.Conn, heads *sync.Pool) {
	defer nc.Close()
	// The deadline bounds the whole handshake, head included.
	if err := nc.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return
	}
	h := heads.Get().(*protocol.HeadReader)
	h.Reset(nc, 8<<10)
	refuse := func(status int, reason string) {
		if err := protocol.Reject(nc, status, nil, reason); err != nil {
			log.Print(err)
		}
		h.Reset(nil, 0)
		heads.Put(h)
	}
	req, err := h.ReadRequest()
	var herr *protocol.HandshakeError
	switch {
	case errors.As(err, &herr): // 431 or 400
		refuse(herr.Status, herr.Reason)
		return
	case err != nil: // cut short: a timeout (os.ErrDeadlineExceeded) or a broken connection
		return
	case req.URL.Path != "/echo":
		refuse(http.StatusNotFound, "no route for "+req.URL.Path)
		return
	}
	// h's reader holds whatever the client sent past the head: the
	// connection keeps it, and h does not go back to the pool.
	c, err := protocol.Upgrade(nc, bufio.NewReadWriter(h.Reader(), nil), req, nil)
	if err != nil {
		return // a *HandshakeError was answered already
	}
	if err := nc.SetDeadline(time.Time{}); err != nil {
		return
	}
	ctx := context.Background()
	for {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			return
		}
		if err := c.Write(ctx, typ, msg); err != nil {
			return
		}
	}
}
