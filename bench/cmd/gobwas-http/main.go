// Command gobwas-http is the gobwas/ws peer of the benchmark in its
// convenience form: net/http, ws.UpgradeHTTP, then a goroutine per
// connection with wsutil.ReadClientData (a message allocated per read) and
// WriteServerMessage; a broadcast is framed once (ws.CompileFrame) and
// written to each connection under its write lock.
package main

import (
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/wsd-dev/wsd/bench/internal/peer"
)

type conn struct {
	nc net.Conn
	mu sync.Mutex // serializes writes
}

func main() { peer.Main(server()) }

// server is the peer, for main and the echo test.
func server() peer.Server {
	reg := peer.NewRegistry[*conn]()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, _, _, err := ws.UpgradeHTTP(r, w)
		if err != nil {
			return
		}
		c := &conn{nc: nc}
		reg.Add(c)
		defer func() { reg.Remove(c); nc.Close() }()
		for {
			p, op, err := wsutil.ReadClientData(nc)
			if err != nil {
				return
			}
			c.mu.Lock()
			err = wsutil.WriteServerMessage(nc, op, p)
			c.mu.Unlock()
			if err != nil {
				return
			}
		}
	})
	return peer.Server{Handler: h, Broadcast: func(msg []byte) int {
		frame, err := ws.CompileFrame(ws.NewBinaryFrame(msg))
		if err != nil {
			return 0
		}
		n := 0
		for _, c := range reg.Snapshot() {
			c.mu.Lock()
			c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.nc.Write(frame); err == nil {
				n++
			}
			c.mu.Unlock()
		}
		return n
	}}
}
