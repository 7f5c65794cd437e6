// Command gws-http is the lxzan/gws peer of the benchmark in its net/http
// form (gws.Upgrader.Upgrade from an http.Handler): a goroutine per
// connection running ReadLoop, echo from OnMessage; a broadcast goes
// through gws.Broadcaster (framed once, written by each connection's
// asynchronous write queue).
package main

import (
	"net/http"

	"github.com/lxzan/gws"

	"github.com/wsd-dev/wsd/bench/internal/peer"
)

type handler struct {
	gws.BuiltinEventHandler
	reg *peer.Registry[*gws.Conn]
}

func (h *handler) OnOpen(c *gws.Conn)             { h.reg.Add(c) }
func (h *handler) OnClose(c *gws.Conn, err error) { h.reg.Remove(c) }

// OnPing answers with the ping's payload, as RFC 6455 §5.5.3 requires
// (gws's BuiltinEventHandler answers an empty pong).
func (h *handler) OnPing(c *gws.Conn, payload []byte) {
	if err := c.WritePong(payload); err != nil {
		return // gws closes the connection
	}
}

func (h *handler) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	if err := c.WriteMessage(m.Opcode, m.Bytes()); err != nil {
		return
	}
}

func main() { peer.Main(server()) }

// server is the peer, for main and the echo test.
func server() peer.Server {
	h := &handler{reg: peer.NewRegistry[*gws.Conn]()}
	up := gws.NewUpgrader(h, &gws.ServerOption{ReadMaxPayloadSize: 64 << 20})
	ws := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		c.ReadLoop()
	})
	return peer.Server{Handler: ws, Broadcast: func(msg []byte) int {
		b := gws.NewBroadcaster(gws.OpcodeBinary, msg)
		defer b.Close()
		n := 0
		for _, c := range h.reg.Snapshot() {
			if b.Broadcast(c) == nil {
				n++
			}
		}
		return n
	}}
}
