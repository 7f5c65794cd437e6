// Command gorilla is the gorilla/websocket peer of the benchmark: one
// goroutine per connection reading with NextReader and echoing with
// NextWriter (as gorilla's own examples do); a broadcast is prepared once
// (PreparedMessage) and written to each connection under its write lock.
package main

import (
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsd-dev/wsd/bench/internal/peer"
)

type conn struct {
	ws *websocket.Conn
	mu sync.Mutex // serializes writes
}

func main() { peer.Main(server()) }

// server is the peer, for main and the echo test.
func server() peer.Server {
	reg := peer.NewRegistry[*conn]()
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	ws := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		cc := &conn{ws: c}
		reg.Add(cc)
		defer func() { reg.Remove(cc); c.Close() }()
		for {
			typ, rd, err := c.NextReader()
			if err != nil {
				return
			}
			cc.mu.Lock()
			err = echo(c, typ, rd)
			cc.mu.Unlock()
			if err != nil {
				return
			}
		}
	})
	return peer.Server{Handler: ws, Broadcast: func(msg []byte) int {
		pm, err := websocket.NewPreparedMessage(websocket.BinaryMessage, msg)
		if err != nil {
			return 0
		}
		n := 0
		for _, c := range reg.Snapshot() {
			c.mu.Lock()
			c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if c.ws.WritePreparedMessage(pm) == nil {
				n++
			}
			c.mu.Unlock()
		}
		return n
	}}
}

func echo(c *websocket.Conn, typ int, rd io.Reader) error {
	wr, err := c.NextWriter(typ)
	if err != nil {
		return err
	}
	if _, err := io.Copy(wr, rd); err != nil {
		return err
	}
	return wr.Close()
}
