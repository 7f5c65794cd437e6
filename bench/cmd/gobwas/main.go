// Command gobwas is the gobwas/ws peer of the benchmark at its best, as
// gobwas's README presents it: a raw net.Listener, the zero-copy
// ws.Upgrader.Upgrade on the net.Conn (no net/http), then a goroutine per
// connection echoing frame by frame: ws.ReadHeaderBuffer and io.ReadFull
// on the net.Conn into the connection's buffer, ws.Cipher in place, and the
// reply's header and payload written in one Write. Pings are answered, a
// close is echoed and ends the connection. A broadcast is framed once
// (ws.CompileFrame) and written to each connection under its write lock.
package main

import (
	"io"
	"net"
	"sync"
	"time"

	"github.com/gobwas/ws"

	"github.com/wsd-dev/wsd/bench/internal/peer"
)

// maxPayload bounds a frame's payload, as the other peers bound a message.
const maxPayload = 64 << 20

type conn struct {
	nc net.Conn
	mu sync.Mutex // serializes writes
}

func main() { peer.Main(server()) }

// server is the peer, for main and the echo test.
func server() peer.Server {
	reg := peer.NewRegistry[*conn]()
	var up ws.Upgrader
	serve := func(ln net.Listener) error {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return err
			}
			go func() {
				defer nc.Close()
				if _, err := up.Upgrade(nc); err != nil {
					return
				}
				c := &conn{nc: nc}
				reg.Add(c)
				defer reg.Remove(c)
				echo(c)
			}()
		}
	}
	return peer.Server{Serve: serve, Broadcast: func(msg []byte) int {
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

// appender is an io.Writer appending to a byte slice, for writing a frame
// header in front of its payload.
type appender struct{ b []byte }

func (a *appender) Write(p []byte) (int, error) {
	a.b = append(a.b, p...)
	return len(p), nil
}

// echo echoes c's frames until the client closes or an error.
func echo(c *conn) {
	var hb [ws.MaxHeaderSize]byte
	var out appender // header and payload of the reply, reused
	for {
		h, err := ws.ReadHeaderBuffer(c.nc, hb[:0])
		if err != nil {
			return
		}
		if h.Length > maxPayload {
			return
		}
		need := ws.MaxHeaderSize + int(h.Length)
		if cap(out.b) < need {
			out.b = make([]byte, 0, need)
		}
		// Read the payload where it will be sent from, after room for the
		// header: the header is written in front of it, one Write.
		hs := ws.HeaderSize(ws.Header{Fin: h.Fin, OpCode: h.OpCode, Length: h.Length})
		payload := out.b[ws.MaxHeaderSize : ws.MaxHeaderSize+int(h.Length)]
		if _, err := io.ReadFull(c.nc, payload); err != nil {
			return
		}
		if h.Masked {
			ws.Cipher(payload, h.Mask, 0)
		}
		reply := ws.Header{Fin: h.Fin, Rsv: h.Rsv, OpCode: h.OpCode, Length: h.Length}
		switch h.OpCode {
		case ws.OpPing:
			reply.OpCode = ws.OpPong
		case ws.OpPong:
			continue
		}
		start := ws.MaxHeaderSize - hs
		out.b = out.b[:start]
		if err := ws.WriteHeaderBuffer(&out, reply, hb[:]); err != nil {
			return
		}
		frame := out.b[:ws.MaxHeaderSize+int(h.Length)][start:]
		c.mu.Lock()
		_, err = c.nc.Write(frame)
		c.mu.Unlock()
		out.b = out.b[:0]
		if err != nil || h.OpCode == ws.OpClose {
			return
		}
	}
}
