// Package peer is the scaffolding shared by the peer servers of the
// benchmark: a listener on loopback whose address is printed on stdout, a
// registry of live connections, and POST /broadcast, which sends its body
// as one binary message to every connection and answers how many got it.
// Every other path is the WebSocket echo endpoint.
package peer

import (
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

// Serve listens on -listen (default 127.0.0.1:0), prints the address on
// stdout and serves ws on every path but /broadcast. It returns when the
// listener fails (the process is killed to stop it).
func Serve(ws http.Handler, broadcast func(msg []byte) int) {
	addr := flag.String("listen", "127.0.0.1:0", "address to listen on")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintln(os.Stdout, ln.Addr().String())
	mux := http.NewServeMux()
	mux.HandleFunc("POST /broadcast", func(w http.ResponseWriter, r *http.Request) {
		msg, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%d\n", broadcast(msg))
	})
	mux.Handle("/", ws)
	log.Fatal(http.Serve(ln, mux))
}
