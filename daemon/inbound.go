package daemon

import (
	"github.com/wsd-dev/wsd/protocol"
	"github.com/wsd-dev/wsd/session"
)

// Inbound limits (Config.MaxMessagesPerSecond, MaxBytesPerSecond): what one
// connection may cost the daemon. Each connection has two token buckets,
// touched only by its reading goroutine (no lock, no timer): a message
// takes one message token and its size in byte tokens; the buckets refill
// at the configured rates up to their bursts. A connection that runs a
// bucket dry has kept sending faster than allowed for longer than its
// burst covers: it is closed with 1008 and closed_by policy, and what it
// sends from then on is read (to find the close frame) but not handled.

// inboundBucket is a connection's pair of buckets; last == 0: not started
// (full).
type inboundBucket struct {
	msgs, bytes float64
	last        int64 // unix nanoseconds of the last refill
}

// compileInbound derives the bursts of the inbound limits.
func (rc *runtimeConfig) compileInbound() {
	rc.inbound = rc.MaxMessagesPerSecond > 0 || rc.MaxBytesPerSecond > 0
	rc.inMsgBurst = float64(rc.MaxMessagesBurst)
	if rc.inMsgBurst == 0 {
		rc.inMsgBurst = max(rc.MaxMessagesPerSecond, 1)
	}
	rc.inBBurst = float64(rc.MaxBytesBurst)
	if rc.inBBurst == 0 {
		rc.inBBurst = float64(rc.MaxBytesPerSecond)
	}
	rc.inBBurst = max(rc.inBBurst, float64(rc.MaxMessageSize))
}

// inboundAllowed takes a message of n bytes received at now from the
// buckets. When one runs dry it starts closing the connection (once) and
// reports false: the message is not handled.
func (c *conn) inboundAllowed(rc *runtimeConfig, now int64, n int) bool {
	b := &c.inLimit
	if b.last == 0 {
		b.msgs, b.bytes = rc.inMsgBurst, rc.inBBurst
	} else if dt := float64(now-b.last) / 1e9; dt > 0 {
		b.msgs = min(b.msgs+dt*rc.MaxMessagesPerSecond, rc.inMsgBurst)
		b.bytes = min(b.bytes+dt*float64(rc.MaxBytesPerSecond), rc.inBBurst)
	}
	b.last = now
	var over string
	if rc.MaxMessagesPerSecond > 0 {
		if b.msgs--; b.msgs < 0 {
			over = "messages"
		}
	}
	if rc.MaxBytesPerSecond > 0 {
		if b.bytes -= float64(n); b.bytes < 0 && over == "" {
			over = "bytes"
		}
	}
	if over == "" {
		return true
	}
	cause := closeCause{by: session.ClosedByPolicy, code: int(protocol.StatusPolicyViolation)}
	if over == "messages" {
		cause.reason, cause.err = "message rate exceeded", "over max-messages-per-second"
	} else {
		cause.reason, cause.err = "byte rate exceeded", "over max-bytes-per-second"
	}
	if c.initClose(cause) {
		if over == "messages" {
			c.d.stats.limitedMsgs.Add(1)
		} else {
			c.d.stats.limitedBytes.Add(1)
		}
	}
	return false
}
