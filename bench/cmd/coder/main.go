// Command coder is the coder/websocket peer of the benchmark: one goroutine
// per connection, Read and Write; a broadcast is a Write to each connection
// (coder serializes writes itself).
package main

import (
	"context"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"github.com/wsd-dev/wsd/bench/internal/peer"
)

func main() { peer.Main(server()) }

// server is the peer, for main and the echo test.
func server() peer.Server {
	reg := peer.NewRegistry[*websocket.Conn]()
	ws := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true, CompressionMode: websocket.CompressionDisabled})
		if err != nil {
			return
		}
		c.SetReadLimit(64 << 20)
		reg.Add(c)
		defer func() { reg.Remove(c); c.CloseNow() }()
		ctx := context.Background()
		for {
			typ, p, err := c.Read(ctx)
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, p); err != nil {
				return
			}
		}
	})
	return peer.Server{Handler: ws, Broadcast: func(msg []byte) int {
		n := 0
		for _, c := range reg.Snapshot() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if c.Write(ctx, websocket.MessageBinary, msg) == nil {
				n++
			}
			cancel()
		}
		return n
	}}
}
