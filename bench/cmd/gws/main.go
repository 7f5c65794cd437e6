// Command gws is the lxzan/gws peer of the benchmark at its best, as gws's
// README presents it: gws.NewServer on a raw net.Listener, which reads the
// request with its own pooled bufio.Readers and upgrades with
// UpgradeFromConn (no net/http), then a goroutine per connection running
// ReadLoop with gws's pooled read and write buffers, echo from OnMessage
// (the message's pooled buffer released with Close). A broadcast goes
// through gws.Broadcaster (framed once, written by each connection's
// asynchronous write queue).
package main

import (
	"errors"
	"net"
	"runtime"

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
	srv := gws.NewServer(h, &gws.ServerOption{ReadMaxPayloadSize: 64 << 20})
	srv.OnError = func(nc net.Conn, err error) {
		if nc != nil {
			nc.Close() // a head gws could not read: RunListener leaves it open
			return
		}
		if errors.Is(err, net.ErrClosed) {
			// RunListener retries every Accept error: end its goroutine
			// once the listener is closed (peer.Start expects that).
			runtime.Goexit()
		}
	}
	return peer.Server{Serve: srv.RunListener, Broadcast: func(msg []byte) int {
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
