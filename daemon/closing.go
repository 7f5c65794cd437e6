package daemon

import (
	"errors"
	"io"
	"time"

	"github.com/wsd-dev/wsd/protocol"
	"github.com/wsd-dev/wsd/session"
)

// How connections end: closing a peer declared dead, and classifying the
// end of one the daemon did not close itself.

// closeDead is initClose's closer for a peer declared unresponsive (pong
// timeout): it sends the close frame and closes the socket at once, without
// waiting up to the close timeout for an answer that will not come. Writes
// and a reader blocked on the socket get deadPeerGrace; reads that would
// wait fail at once (lazyReader.dead), so that the protocol's own wait for
// the peer's close frame ends as soon as the frame is out.
func (c *conn) closeDead(cause closeCause) {
	defer c.wg.Done()
	grace := min(c.d.config().CloseTimeout, deadPeerGrace)
	c.lr.dead.Store(true)
	if err := c.snd.CloseDeadline(grace); err != nil {
		c.d.log.Debug("closing: write deadline", "conn_id", c.sid, "err", err)
	}
	if err := c.ws.SetReadDeadline(time.Now().Add(grace)); err != nil {
		c.d.log.Debug("closing: read deadline", "conn_id", c.sid, "err", err)
	}
	if err := c.ws.Close(protocol.StatusCode(cause.code), cause.reason); err != nil {
		c.d.log.Debug("closing a dead peer", "conn_id", c.sid, "err", err)
	}
	if err := c.ws.CloseNow(); err != nil {
		c.d.log.Debug("close", "conn_id", c.sid, "err", err)
	}
	c.resume() // a parked connection needs a reader to see the end
}

// deadPeerGrace bounds the write of the close frame to a peer declared
// dead, and how long a reader blocked on its socket may go on.
const deadPeerGrace = 100 * time.Millisecond

// classify turns the error that ended reading, for a connection the daemon
// did not close itself, into a cause.
func classify(err error) closeCause {
	ce := closeError(err)
	switch {
	case ce != nil && ce.Local:
		return closeCause{by: session.ClosedByProtocolError, code: int(ce.Code), reason: ce.Reason, err: ce.Error()}
	case ce != nil:
		return closeCause{by: session.ClosedByClient, code: int(ce.Code), reason: ce.Reason}
	case err == nil:
		return closeCause{by: session.ClosedByServer, code: int(protocol.StatusAbnormalClosure)}
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return closeCause{by: session.ClosedByClient, code: int(protocol.StatusAbnormalClosure), err: "connection closed without a close frame"}
	default:
		return closeCause{by: session.ClosedByClient, code: int(protocol.StatusAbnormalClosure), err: err.Error()}
	}
}

func isCloseError(err error) bool { return closeError(err) != nil }

// closeError returns the *protocol.CloseError in err's chain, or nil. The
// protocol returns it unwrapped: that case allocates nothing.
func closeError(err error) *protocol.CloseError {
	if ce, ok := err.(*protocol.CloseError); ok {
		return ce
	}
	var ce *protocol.CloseError
	if errors.As(err, &ce) {
		return ce
	}
	return nil
}
