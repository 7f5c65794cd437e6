package daemon

import (
	"time"

	"github.com/wsd-dev/wsd/session"
)

// The keepalive scanner is one goroutine for the whole daemon (no timer per
// connection): every tick it walks the hub, shard by shard, and for each
// connection sends a ping when PingInterval has passed since the last one,
// closes it when its ping has gone unanswered for PongTimeout (closed_by
// idle_timeout), and closes it when its client token has expired
// (token_expired). Pings go through the send queue, so the scanner never
// blocks on a socket. Any frame received after a ping proves the client
// alive as well as its pong does (NATS's rule: a client busy sending is
// not dead, even if its pong waits behind its frames). A client declared
// dead gets its close frame and its socket closed at once (closeDead).

// scanTick returns the scanner's period for a configuration: a quarter of
// the shorter keepalive timer, between 5 ms and 1 s.
func scanTick(rc *runtimeConfig) time.Duration {
	return min(max(min(rc.PingInterval, rc.PongTimeout)/4, 5*time.Millisecond), time.Second)
}

func (d *Daemon) keepalive() {
	defer d.bgWG.Done()
	rc := d.config()
	tick := scanTick(rc)
	t := time.NewTicker(tick)
	defer t.Stop()
	lastSweep := time.Now()
	for {
		select {
		case <-d.stopBG:
			return
		case now := <-t.C:
			rc = d.config()
			if nt := scanTick(rc); nt != tick {
				tick = nt
				t.Reset(tick)
			}
			d.scan(rc, now)
			d.lastScan.Store(now.UnixNano())
			if now.Sub(lastSweep) >= time.Minute {
				d.ips.sweep(rc.HandshakeRate, rc.HandshakeBurst, now)
				lastSweep = now
			}
		}
	}
}

// scan checks every connection once.
func (d *Daemon) scan(rc *runtimeConfig, now time.Time) {
	n := now.UnixNano()
	ping, pong := int64(rc.PingInterval), int64(rc.PongTimeout)
	d.hub.each(nil, func(c *conn) bool {
		if c.tr != nil {
			c.tr.tick(n) // export the frames of a long segment
		}
		c.tickArmed(n)
		if c.expiresAt != 0 && n >= c.expiresAt {
			c.initClose(closeCause{by: session.ClosedByTokenExpired, code: CodeTokenExpired, reason: "token expired"})
			return true
		}
		if sent := c.pingSent.Load(); sent != 0 {
			if c.lastActivity.Load() > sent || c.lr != nil && c.lr.in.Load() != c.inAtPing {
				// Anything received since the ping is as good as a
				// pong: a peer whose frames keep arriving is alive, its
				// pong may wait behind them (a long upload).
				c.pingSent.CompareAndSwap(sent, 0)
			} else if n-sent >= pong {
				c.initClose(closeCause{by: session.ClosedByIdleTimeout, code: CodePongTimeout, reason: "pong timeout",
					err: "no pong within " + rc.PongTimeout.String(), dead: true})
			}
			return true
		}
		last := c.lastPing.Load()
		if last == 0 {
			last = c.connectedAt
		}
		if n-last >= ping {
			c.lastPing.Store(n)
			if c.lr != nil {
				c.inAtPing = c.lr.in.Load()
			}
			c.pingSent.Store(n)
			if c.sendPing(now) != sendQueued {
				c.pingSent.Store(0)
			}
		}
		return true
	})
}
