// Command gws is the lxzan/gws peer of the benchmark: a goroutine per
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

func (h *handler) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	if err := c.WriteMessage(m.Opcode, m.Bytes()); err != nil {
		return
	}
}

func main() {
	h := &handler{reg: peer.NewRegistry[*gws.Conn]()}
	up := gws.NewUpgrader(h, &gws.ServerOption{ReadMaxPayloadSize: 64 << 20})
	ws := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		c.ReadLoop()
	})
	peer.Serve(ws, func(msg []byte) int {
		b := gws.NewBroadcaster(gws.OpcodeBinary, msg)
		defer b.Close()
		n := 0
		for _, c := range h.reg.Snapshot() {
			if b.Broadcast(c) == nil {
				n++
			}
		}
		return n
	})
}
