package loadgen

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/protocol"
)

// testServer is a WebSocket server on loopback built on package protocol:
// it echoes every message (after hold, if set, is closed), keeps its
// connections for broadcasts, and answers POST /broadcast like bench/'s
// peer servers. Cleanup closes the connections and waits for their
// goroutines.
type testServer struct {
	*httptest.Server
	URL string // ws://

	hold    chan struct{} // if set, the first echo waits for it to close
	onCount func(n int)   // if set, called with the number of connections accepted so far
	// receivers is how many connections a broadcast waits for: a client's
	// handshake completes just before the server registers its connection.
	receivers int
	opened    chan struct{} // signalled when a connection is registered

	mu       sync.Mutex
	conns    map[*protocol.Conn]bool
	accepted int
	peak     int      // most connections open at once
	got      []string // message types received, in order (text/binary)
	wg       sync.WaitGroup
}

func newTestServer(t *testing.T, setup func(*testServer)) *testServer {
	t.Helper()
	s := &testServer{conns: map[*protocol.Conn]bool{}, opened: make(chan struct{}, 1)}
	if setup != nil {
		setup(s)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /broadcast", func(w http.ResponseWriter, r *http.Request) {
		p, err := io.ReadAll(io.LimitReader(r.Body, MaxSize))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		n, err := s.broadcast(r.Context(), p)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, n)
	})
	mux.HandleFunc("/", s.serveWS)
	s.Server = httptest.NewServer(mux)
	s.URL = "ws" + strings.TrimPrefix(s.Server.URL, "http")
	t.Cleanup(func() {
		s.Server.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.CloseNow()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *testServer) serveWS(w http.ResponseWriter, r *http.Request) {
	c, err := protocol.Accept(w, r, nil)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.conns[c] = true
	s.accepted++
	s.peak = max(s.peak, len(s.conns))
	n := s.accepted
	s.wg.Add(1)
	s.mu.Unlock()
	select {
	case s.opened <- struct{}{}:
	default:
	}
	if s.onCount != nil {
		s.onCount(n)
	}
	// The handler's goroutine goes on as the connection's reader; the
	// server's cleanup waits for it.
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.CloseNow()
	}()
	ctx := context.Background()
	for first := true; ; first = false {
		typ, p, err := c.Read(ctx)
		if err != nil {
			return
		}
		s.mu.Lock()
		s.got = append(s.got, typ.String())
		s.mu.Unlock()
		if first && s.hold != nil {
			<-s.hold
		}
		if err := c.Write(ctx, typ, p); err != nil {
			return
		}
	}
}

// broadcast writes p to every connection as a binary message, once at
// least s.receivers are open, and returns how many it went to.
func (s *testServer) broadcast(ctx context.Context, p []byte) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		_, _, open := s.stats()
		if open >= s.receivers {
			break
		}
		select {
		case <-s.opened:
		case <-ctx.Done():
			return 0, fmt.Errorf("broadcast: %d of %d receivers registered: %w", open, s.receivers, ctx.Err())
		}
	}
	s.mu.Lock()
	conns := make([]*protocol.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		if err := c.Write(ctx, protocol.BinaryMessage, p); err != nil {
			return 0, fmt.Errorf("broadcast: %w", err)
		}
	}
	return int64(len(conns)), nil
}

func (s *testServer) stats() (accepted, peak, open int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted, s.peak, len(s.conns)
}
