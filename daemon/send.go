package daemon

import (
	"time"

	"github.com/wsd-dev/wsd/daemon/internal/sender"
	"github.com/wsd-dev/wsd/protocol"
	"github.com/wsd-dev/wsd/session"
)

// The write path is the connection's sender (internal/sender), which owns
// the send queue, the writer goroutine and inline writes. Enqueueing never
// blocks: a message that would take the queue past Config.SendQueueBytes
// is dropped and the connection is closed as a slow consumer (1008), so one
// slow client never holds up a broadcast or anybody else. An echo answers
// inline on the reading goroutine (reply); a broadcast and a keepalive
// ping write inline without ever waiting (sendPrepared, sendPing). What
// follows turns the sender's results into the daemon's: counters, the
// slow consumer's close, the admin API's answers.

// sendResult is the outcome of one send, as the admin API and traces see
// it.
type sendResult uint8

const (
	sendQueued  sendResult = iota
	sendClosing            // the connection is closing: dropped
	sendSlow               // over the byte limit: dropped, connection closed as slow consumer
)

// enqueue queues a message without blocking. data must not be modified
// afterwards.
func (c *conn) enqueue(typ protocol.MessageType, data []byte, now time.Time) sendResult {
	c.tapOut(typ, data)
	return c.sent(c.snd.Send(typ, data, nil, now))
}

// enqueuePrepared queues a message prepared for many connections.
func (c *conn) enqueuePrepared(typ protocol.MessageType, data []byte, pm *protocol.PreparedMessage, now time.Time) sendResult {
	c.tapOut(typ, data)
	return c.sent(c.snd.Send(typ, data, pm, now))
}

// sendPrepared sends a message prepared for many connections (a
// broadcast): inline, without ever waiting, when nothing else is being
// written to the connection, else through the queue. Like enqueue, it
// never blocks.
func (c *conn) sendPrepared(typ protocol.MessageType, data []byte, pm *protocol.PreparedMessage, now time.Time) sendResult {
	c.tapOut(typ, data)
	r := c.snd.SendNB(typ, data, pm, now)
	if testHookInline != nil {
		testHookInline(r)
	}
	return c.sent(r)
}

// sendPing sends a keepalive ping stamped with now: inline, without ever
// waiting, like sendPrepared, so that pinging an idle connection starts no
// writer goroutine.
func (c *conn) sendPing(now time.Time) sendResult {
	r := c.snd.Ping(now)
	if testHookInline != nil {
		testHookInline(r)
	}
	return c.sent(r)
}

// reply sends a message from the connection's reading goroutine: inline
// when nothing else is being written, else through the queue (p is then
// copied).
func (c *conn) reply(typ protocol.MessageType, p []byte) {
	c.tapOut(typ, p)
	c.sent(c.snd.Reply(typ, p))
}

// testHookInline, set by tests before any daemon starts, sees the result
// of every broadcast and ping handed to a sender.
var testHookInline func(sender.Result)

// sent accounts for a sender's result: drops are counted, and a message
// over the queue's limit closes the connection as a slow consumer. A
// message the sender took counts as queued, even when its write failed
// (the sender has reported the failure, which closes the connection).
func (c *conn) sent(r sender.Result) sendResult {
	switch r {
	case sender.Closed:
		c.d.met.dropped(dropClosing, 1)
		return sendClosing
	case sender.Full:
		c.d.met.dropped(dropSlow, 1)
		c.initClose(closeCause{
			by:     session.ClosedBySlowConsumer,
			code:   int(protocol.StatusPolicyViolation),
			reason: "slow consumer",
			err:    "send queue would exceed send-queue-bytes",
		})
		return sendSlow
	case sender.Discarded:
		c.d.met.dropped(dropDiscarded, 1) // as if discarded from the queue
	}
	return sendQueued
}

// discardQueue closes c's sender because c is closing, counting the
// messages it discarded. c.mu is held.
func (c *conn) discardQueue() {
	c.d.met.dropped(dropDiscarded, c.snd.Close())
}

func clone(p []byte) []byte {
	if len(p) == 0 {
		return nil
	}
	return append([]byte(nil), p...)
}
