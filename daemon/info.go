package daemon

import (
	"maps"
	"sync/atomic"
	"time"

	"github.com/wsd-dev/wsd/session"
)

func (c *conn) info() session.Conn {
	now := time.Now()
	msgsOut, bytesOut := c.snd.Out()
	ci := session.Conn{
		ID:              c.sid,
		Route:           c.route.Path,
		RemoteAddr:      c.remoteAddr,
		User:            c.user,
		Labels:          maps.Clone(c.labels),
		Origin:          c.origin,
		UserAgent:       c.userAgent,
		ConnectedAt:     time.Unix(0, c.connectedAt),
		MessagesIn:      int64(c.msgsIn.Load()),
		MessagesOut:     int64(msgsOut),
		BytesIn:         int64(c.bytesIn.Load()),
		BytesOut:        int64(bytesOut),
		RTT:             time.Duration(c.rtt.Load()),
		WebhookInFlight: int(c.inFlight.Load()),
	}
	if ci.Labels == nil {
		ci.Labels = map[string]string{}
	}
	if c.ws != nil {
		ci.Subprotocol, ci.Extensions = c.ws.Subprotocol(), c.ws.Extensions()
	}
	if t := c.lastActivity.Load(); t != 0 {
		ci.LastActivityAt = time.Unix(0, t)
	}
	if c.expiresAt != 0 {
		ci.TokenExpiresAt = time.Unix(0, c.expiresAt)
	}
	qb, oldest := c.snd.Queued()
	ci.SendQueueBytes = int64(qb)
	if oldest != 0 {
		ci.OldestQueuedMS = max(now.UnixNano()-oldest, 0) / int64(time.Millisecond)
	}
	return ci
}

// stats holds the counters behind Stats.
type stats struct {
	accepted        atomic.Uint64
	slowConsumers   atomic.Uint64
	limitedMsgs     atomic.Uint64 // closed over the inbound message rate
	limitedBytes    atomic.Uint64 // closed over the inbound byte rate
	panics          atomic.Uint64
	webhookFailures atomic.Uint64
	handshake       counterMap
	closedBy        counterMap
}

func (s *stats) handshakeFailed(reason string) { s.handshake.add(reason) }
func (s *stats) closed(by session.ClosedBy)    { s.closedBy.add(string(by)) }

// counterMap is a small set of named counters, created on first use.
type counterMap struct {
	m atomic.Pointer[map[string]*atomic.Uint64]
}

func (cm *counterMap) add(name string) {
	for {
		p := cm.m.Load()
		if p != nil {
			if c, ok := (*p)[name]; ok {
				c.Add(1)
				return
			}
		}
		n := make(map[string]*atomic.Uint64, 8)
		if p != nil {
			maps.Copy(n, *p)
		}
		n[name] = new(atomic.Uint64)
		if cm.m.CompareAndSwap(p, &n) {
			n[name].Add(1)
			return
		}
	}
}

func (cm *counterMap) snapshot() map[string]uint64 {
	out := map[string]uint64{}
	if p := cm.m.Load(); p != nil {
		for k, v := range *p {
			out[k] = v.Load()
		}
	}
	return out
}
