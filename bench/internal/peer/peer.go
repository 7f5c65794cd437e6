// Package peer is the scaffolding shared by the peer servers of the
// benchmark: a listener on loopback whose address is printed on stdout, a
// registry of live connections, and POST /broadcast, which sends its body
// as one binary message to every connection and answers how many got it.
//
// A peer serves WebSocket one of two ways. A Handler peer goes through
// net/http: every path but /broadcast is the WebSocket echo endpoint, on the
// one listener. A Serve peer owns its listener (the raw net.Conn, its own
// request parsing); its /broadcast is then served by net/http on a second
// listener, so that the hot path carries no dispatch wrapper.
//
// A peer prints two lines on stdout: the WebSocket address (host:port) and
// the broadcast URL.
package peer

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
)

// Registry holds the live connections of a server.
type Registry[T comparable] struct {
	mu sync.Mutex
	m  map[T]struct{}
}

// NewRegistry returns an empty registry.
func NewRegistry[T comparable]() *Registry[T] { return &Registry[T]{m: map[T]struct{}{}} }

// Add registers c.
func (r *Registry[T]) Add(c T) {
	r.mu.Lock()
	r.m[c] = struct{}{}
	r.mu.Unlock()
}

// Remove unregisters c.
func (r *Registry[T]) Remove(c T) {
	r.mu.Lock()
	delete(r.m, c)
	r.mu.Unlock()
}

// Snapshot returns the live connections.
func (r *Registry[T]) Snapshot() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]T, 0, len(r.m))
	for c := range r.m {
		out = append(out, c)
	}
	return out
}

// Server is one peer: exactly one of Handler and Serve is set.
type Server struct {
	// Handler serves the WebSocket endpoint through net/http.
	Handler http.Handler
	// Serve accepts and serves WebSocket connections on ln until ln is
	// closed; it returns the listener's error, or ends its goroutine with
	// runtime.Goexit once ln is closed.
	Serve func(ln net.Listener) error
	// Broadcast sends msg as one binary message to every live connection
	// and returns how many it was written to.
	Broadcast func(msg []byte) int
}

// Running is a started Server.
type Running struct {
	// Addr is the WebSocket address, host:port.
	Addr string
	// Trigger is the URL a broadcast is POSTed to.
	Trigger string

	lns  []net.Listener
	done chan error
}

// Start listens on addr (and, for a Serve peer, on a second loopback port
// for /broadcast) and serves s in the background until Close.
func Start(s Server, addr string) (*Running, error) {
	if (s.Handler == nil) == (s.Serve == nil) {
		return nil, errors.New("peer: set exactly one of Handler and Serve")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("peer: listen: %w", err)
	}
	r := &Running{Addr: ln.Addr().String(), lns: []net.Listener{ln}, done: make(chan error, 2)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /broadcast", func(w http.ResponseWriter, req *http.Request) {
		msg, err := io.ReadAll(io.LimitReader(req.Body, 16<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%d\n", s.Broadcast(msg))
	})
	if s.Handler != nil {
		mux.Handle("/", s.Handler)
		r.Trigger = "http://" + r.Addr + "/broadcast"
		go func() { r.done <- http.Serve(ln, mux) }()
		return r, nil
	}
	host, _, err := net.SplitHostPort(r.Addr)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("peer: %w", err)
	}
	bln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("peer: listen for /broadcast: %w", err)
	}
	r.lns = append(r.lns, bln)
	r.Trigger = "http://" + bln.Addr().String() + "/broadcast"
	go func() {
		err := net.ErrClosed // if Serve ends its goroutine with runtime.Goexit
		defer func() { r.done <- err }()
		err = s.Serve(ln)
	}()
	go func() { r.done <- http.Serve(bln, mux) }()
	return r, nil
}

// Wait returns the first error of the serving goroutines (a listener that
// failed or was closed).
func (r *Running) Wait() error { return <-r.done }

// Close closes the listeners and waits for the serving goroutines to end.
// Connections already accepted are not closed.
func (r *Running) Close() error {
	var errs []error
	for _, ln := range r.lns {
		errs = append(errs, ln.Close())
	}
	for range r.lns {
		<-r.done
	}
	return errors.Join(errs...)
}

// Main runs s as a command: it listens on -listen (default 127.0.0.1:0),
// prints the WebSocket address and the broadcast URL on stdout, one a
// line, and serves until a listener fails (the process is killed to stop
// it).
func Main(s Server) {
	addr := flag.String("listen", "127.0.0.1:0", "address to listen on")
	flag.Parse()
	r, err := Start(s, *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stdout, "%s\n%s\n", r.Addr, r.Trigger)
	log.Fatal(r.Wait())
}
