// Package peertest checks that a peer server of the benchmark echoes
// correctly, for each peer's test.
package peertest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsd-dev/wsd/bench/internal/peer"
)

// Check starts s on loopback and checks it with a gorilla/websocket client:
// text and binary messages of every frame length class echoed unchanged, a
// ping answered with its payload, a POST /broadcast delivered as one binary
// message, and a close echoed, after which the connection leaves the
// broadcast set.
func Check(t *testing.T, s peer.Server) {
	t.Helper()
	r, err := peer.Start(s, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Logf("close: %v", err)
		}
	})
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	c, resp, err := d.Dial("ws://"+r.Addr+"/", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	resp.Body.Close()
	defer c.Close()
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}

	for _, size := range []int{0, 1, 125, 126, 1024, 65535, 65536, 70000} {
		for _, typ := range []int{websocket.TextMessage, websocket.BinaryMessage} {
			msg := bytes.Repeat([]byte{'a' + byte(size%26)}, size)
			if err := c.WriteMessage(typ, msg); err != nil {
				t.Fatalf("write %d bytes: %v", size, err)
			}
			gotTyp, got, err := c.ReadMessage()
			if err != nil {
				t.Fatalf("read echo of %d bytes: %v", size, err)
			}
			if gotTyp != typ || !bytes.Equal(got, msg) {
				t.Fatalf("echo of %d bytes (type %d): got %d bytes of type %d", size, typ, len(got), gotTyp)
			}
		}
	}

	pong := make(chan string, 1)
	c.SetPongHandler(func(p string) error { pong <- p; return nil })
	if err := c.WriteControl(websocket.PingMessage, []byte("ping!"), time.Now().Add(5*time.Second)); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte("after ping")); err != nil {
		t.Fatalf("write: %v", err)
	}
	if _, got, err := c.ReadMessage(); err != nil || string(got) != "after ping" {
		t.Fatalf("echo after ping: %q, %v", got, err)
	}
	select {
	case p := <-pong:
		if p != "ping!" {
			t.Fatalf("pong payload %q, want %q", p, "ping!")
		}
	default:
		t.Fatal("no pong before the next echo")
	}

	if n := broadcast(t, r.Trigger, "to all"); n != "1" {
		t.Fatalf("broadcast reached %s connections, want 1", n)
	}
	if typ, got, err := c.ReadMessage(); err != nil || typ != websocket.BinaryMessage || string(got) != "to all" {
		t.Fatalf("broadcast: got type %d %q, %v", typ, got, err)
	}

	if err := c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye")); err != nil {
		t.Fatalf("close: %v", err)
	}
	_, _, err = c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseNormalClosure {
		t.Fatalf("after close: %v, want close 1000", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for broadcast(t, r.Trigger, "none") != "0" {
		if time.Now().After(deadline) {
			t.Fatal("closed connection still in the broadcast set after 5s")
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
}

// broadcast POSTs msg to url and returns the answer, the count.
func broadcast(t *testing.T, url, msg string) string {
	t.Helper()
	cl := http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Post(url, "application/octet-stream", strings.NewReader(msg))
	if err != nil {
		t.Fatalf("broadcast: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("broadcast: %s %q %v", resp.Status, b, err)
	}
	return strings.TrimSpace(fmt.Sprint(string(b)))
}
