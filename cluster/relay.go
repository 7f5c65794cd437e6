package cluster

import (
	"encoding/binary"
	"errors"

	"github.com/nats-io/nats.go"

	"github.com/wsd-dev/wsd/session"
)

// A relay message on the bus: the type (1 byte), the route's and the
// room's lengths (2 bytes each, big-endian) and bytes, then the payload.
// Each node publishes on its own subject from its one connection, so every
// other node receives a publisher's messages in order.

// PublishRelay sends a relay:LABEL message to the room's members on the
// other nodes (the daemon's RelayBus). It does not block: while the bus is
// down NATS buffers (up to its reconnect buffer), then drops.
func (n *Node) PublishRelay(route, room string, typ session.MessageType, p []byte) {
	if len(route) > 0xffff || len(room) > 0xffff {
		return
	}
	b := make([]byte, 0, 5+len(route)+len(room)+len(p))
	b = append(b, byte(typ))
	b = binary.BigEndian.AppendUint16(b, uint16(len(route)))
	b = append(b, route...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(room)))
	b = append(b, room...)
	b = append(b, p...)
	if err := n.nc.Publish(n.subject("relay", n.cfg.Name), b); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		n.metrics.relayDropped.Inc()
		n.log.Debug("cluster: relay publish", "err", err)
	}
}

func (n *Node) onRelay(m *nats.Msg) {
	if m.Subject == n.subject("relay", n.cfg.Name) {
		return // delivered here by the daemon already
	}
	route, room, typ, p, ok := parseRelay(m.Data)
	if !ok {
		n.log.Debug("cluster: malformed relay message", "subject", m.Subject)
		return
	}
	n.local.DeliverRelay(route, room, typ, p)
}

func parseRelay(b []byte) (route, room string, typ session.MessageType, p []byte, ok bool) {
	if len(b) < 5 {
		return "", "", 0, nil, false
	}
	typ = session.MessageType(b[0])
	b = b[1:]
	l := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+l+2 {
		return "", "", 0, nil, false
	}
	route = string(b[2 : 2+l])
	b = b[2+l:]
	l = int(binary.BigEndian.Uint16(b))
	if len(b) < 2+l {
		return "", "", 0, nil, false
	}
	room = string(b[2 : 2+l])
	return route, room, typ, b[2+l:], true
}
