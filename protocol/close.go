package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// StatusCode is a close status code (RFC 6455 §7.4).
type StatusCode uint16

// Status codes defined by RFC 6455 §7.4.1 and the IANA registry.
const (
	StatusNormalClosure      StatusCode = 1000
	StatusGoingAway          StatusCode = 1001
	StatusProtocolError      StatusCode = 1002
	StatusUnsupportedData    StatusCode = 1003
	statusReserved1004       StatusCode = 1004
	StatusNoStatusReceived   StatusCode = 1005 // never sent: no code in the close frame
	StatusAbnormalClosure    StatusCode = 1006 // never sent: no close frame at all
	StatusInvalidPayloadData StatusCode = 1007
	StatusPolicyViolation    StatusCode = 1008
	StatusMessageTooBig      StatusCode = 1009
	StatusMandatoryExtension StatusCode = 1010
	StatusInternalError      StatusCode = 1011
	StatusServiceRestart     StatusCode = 1012
	StatusTryAgainLater      StatusCode = 1013
	StatusBadGateway         StatusCode = 1014
	StatusTLSHandshake       StatusCode = 1015 // never sent
)

// MaxCloseReason is the longest close reason that fits a control frame:
// 125 bytes of payload minus the 2-byte code.
const MaxCloseReason = 123

var statusNames = map[StatusCode]string{
	StatusNormalClosure:      "normal closure",
	StatusGoingAway:          "going away",
	StatusProtocolError:      "protocol error",
	StatusUnsupportedData:    "unsupported data",
	StatusNoStatusReceived:   "no status received",
	StatusAbnormalClosure:    "abnormal closure",
	StatusInvalidPayloadData: "invalid payload data",
	StatusPolicyViolation:    "policy violation",
	StatusMessageTooBig:      "message too big",
	StatusMandatoryExtension: "mandatory extension",
	StatusInternalError:      "internal error",
	StatusServiceRestart:     "service restart",
	StatusTryAgainLater:      "try again later",
	StatusBadGateway:         "bad gateway",
	StatusTLSHandshake:       "TLS handshake",
}

func (c StatusCode) String() string {
	if s, ok := statusNames[c]; ok {
		return strconv.Itoa(int(c)) + " (" + s + ")"
	}
	return strconv.Itoa(int(c))
}

// ValidReceived reports whether c may appear in a close frame received from a
// peer. Codes 0-999, 1004-1006, 1015, 1016-2999 and 5000+ are invalid.
func (c StatusCode) ValidReceived() bool {
	switch {
	case c >= 1000 && c <= 1003:
		return true
	case c >= 1007 && c <= 1014:
		return true
	case c >= 3000 && c <= 4999:
		return true
	}
	return false
}

// validSent reports whether c may be sent. 1005, 1006 and 1015 are reserved
// for local use and never appear on the wire.
func (c StatusCode) validSent() bool { return c.ValidReceived() }

// CloseError describes how a connection was closed.
//
// When Local is false the peer sent a close frame with Code and Reason
// (Code is StatusNoStatusReceived if the frame had no payload). When Local is
// true this endpoint failed the connection, for example on a protocol
// violation, and Code is the status it sent.
type CloseError struct {
	Code   StatusCode
	Reason string
	Local  bool
}

func (e *CloseError) Error() string {
	who := "peer"
	if e.Local {
		who = "local"
	}
	if e.Reason == "" {
		return fmt.Sprintf("websocket closed by %s: %v", who, e.Code)
	}
	return fmt.Sprintf("websocket closed by %s: %v: %s", who, e.Code, e.Reason)
}

// parseClosePayload validates a received close frame payload (§5.5.1, §7.4).
// An invalid payload yields the status code the connection must be failed
// with: 1002 for a bad length or code, 1007 for a reason that is not UTF-8.
func parseClosePayload(p []byte) (code StatusCode, reason string, fail StatusCode) {
	switch len(p) {
	case 0:
		return StatusNoStatusReceived, "", 0
	case 1:
		return 0, "", StatusProtocolError
	}
	code = StatusCode(binary.BigEndian.Uint16(p))
	if !code.ValidReceived() {
		return code, "", StatusProtocolError
	}
	if !utf8.Valid(p[2:]) {
		return code, "", StatusInvalidPayloadData
	}
	return code, string(p[2:]), 0
}

// appendClosePayload appends the payload of a close frame with code and reason.
// StatusNoStatusReceived yields an empty payload.
func appendClosePayload(dst []byte, code StatusCode, reason string) []byte {
	if code == StatusNoStatusReceived {
		return dst
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(code))
	return append(dst, reason...)
}

// checkCloseArgs validates what an application asks to send.
func checkCloseArgs(code StatusCode, reason string) error {
	if !code.validSent() {
		return fmt.Errorf("%w: status code %d may not be sent", ErrInvalidClose, code)
	}
	if len(reason) > MaxCloseReason {
		return fmt.Errorf("%w: reason is %d bytes, at most %d fit", ErrInvalidClose, len(reason), MaxCloseReason)
	}
	if !utf8.ValidString(reason) {
		return fmt.Errorf("%w: reason is not valid UTF-8", ErrInvalidClose)
	}
	return nil
}

// Close performs the closing handshake (RFC 6455 §7): it sends a close frame
// with code and reason, waits up to the close timeout for the peer's close
// frame, and closes the TCP connection (a client first gives the server the
// chance to close it, §7.1.1). It may be called from any goroutine; if
// another goroutine is reading, that reader receives the peer's close frame
// and returns it as a *CloseError.
//
// Calling Close again, or after the peer closed, waits for the connection
// to finish closing and returns nil.
func (c *Conn) Close(code StatusCode, reason string) error {
	if err := checkCloseArgs(code, reason); err != nil {
		return err
	}
	c.closeMu.Lock()
	if c.closeSent.Load() {
		c.closeMu.Unlock()
		return c.waitDone()
	}
	c.closeSent.Store(true)
	c.closeMu.Unlock()

	if err := c.writeClose(code, reason); err != nil {
		c.setCloseErr(errClosed)
		return errors.Join(err, c.closeTCP())
	}
	if c.readSem.tryAcquire() {
		// Nobody is reading: read the peer's answer here.
		answered := c.awaitPeerClose()
		c.readSem.release()
		c.setCloseErr(errClosed)
		if err := c.closeTCP(); err != nil {
			return err
		}
		if !answered {
			return fmt.Errorf("close: %w: peer did not answer the close frame within %v", ErrCloseTimeout, c.lim.closeTimeout)
		}
		return nil
	}
	// A reader is active and will handle the peer's close frame.
	return c.waitDone()
}

// waitDone waits for the TCP connection to be closed by whoever handles the
// peer's close frame, and closes it itself after twice the close timeout.
func (c *Conn) waitDone() error {
	t := time.NewTimer(2 * c.lim.closeTimeout)
	defer t.Stop()
	select {
	case <-c.Done():
		return nil
	case <-t.C:
		c.setCloseErr(errClosed)
		if err := c.closeTCP(); err != nil {
			return err
		}
		return fmt.Errorf("close: %w: the closing handshake did not finish within %v", ErrCloseTimeout, 2*c.lim.closeTimeout)
	}
}

// writeClose sends a close frame. It first bounds the write deadline so that
// a writer blocked on a slow peer cannot hold the connection open forever.
func (c *Conn) writeClose(code StatusCode, reason string) error {
	if err := c.nc.SetWriteDeadline(time.Now().Add(c.lim.closeTimeout)); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	var buf [maxControlPayload]byte
	p := appendClosePayload(buf[:0], code, reason)
	if len(p) == 0 {
		code = 0 // an empty close frame carries no code to observe
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.writeControlLocked(OpClose, p, code, reason); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

// peerClosed handles a valid close frame from the peer, called by the
// reading goroutine. It answers with a close frame if none was sent, then
// finishes the TCP connection: a server closes it at once, a client waits
// for the server to close it first (bounded by the close timeout).
func (c *Conn) peerClosed(code StatusCode, reason string) error {
	ce := &CloseError{Code: code, Reason: reason}
	c.rErrOnce = ce
	c.closeMu.Lock()
	c.closeRecv = true
	answer := !c.closeSent.Load()
	c.closeSent.Store(true)
	if c.closeErr == nil {
		c.closeErr = ce
	}
	c.closeMu.Unlock()

	var errs []error
	if answer {
		// Echo the code (§5.5.1); an empty close is answered by an empty one.
		if err := c.writeClose(code, ""); err != nil {
			errs = append(errs, err)
		}
	}
	if c.client {
		c.drainToEOF()
	}
	if err := c.closeTCP(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return errors.Join(append([]error{ce}, errs...)...)
	}
	return ce
}

// drainToEOF reads and drops whatever the peer still sends until it closes
// its side of the connection, for at most the close timeout. A client uses
// it to let the server close the TCP connection first (§7.1.1).
func (c *Conn) drainToEOF() {
	if err := c.nc.SetReadDeadline(time.Now().Add(c.lim.closeTimeout)); err != nil {
		return // already closed: nothing left to drain
	}
	var scratch [512]byte
	for {
		if _, err := c.br.Read(scratch[:]); err != nil {
			return
		}
	}
}

// fail fails the connection (RFC 6455 §7.1.7) because of something the peer
// sent: it sends a close frame with code and closes the connection with a
// linger. It returns the *CloseError that the reader reports from now on.
func (c *Conn) fail(code StatusCode, why string) error {
	ce := &CloseError{Code: code, Reason: why, Local: true}
	if c.rErrOnce != nil {
		return c.rErrOnce
	}
	c.rErrOnce = ce
	if c.rDraining {
		// Already closing; the peer's garbage just ends the wait.
		return ce
	}
	c.setCloseErr(ce)
	c.closeMu.Lock()
	send := !c.closeSent.Load()
	c.closeSent.Store(true)
	c.closeMu.Unlock()
	if send {
		reason := why
		if len(reason) > MaxCloseReason {
			reason = reason[:MaxCloseReason]
		}
		if err := c.writeClose(code, reason); err != nil {
			return errors.Join(ce, err, c.closeTCP())
		}
	}
	if err := c.lingerClose(); err != nil {
		return errors.Join(ce, err)
	}
	return ce
}

// lingerClose ends a failed connection without resetting it. The frame
// stream may be cut mid-frame (a text frame that turned invalid halfway, a
// frame above the size limit), so the peer's close frame cannot be found in
// it. A server half-closes (it closes the TCP connection first, §7.1.1),
// then both sides drop what the peer still sends until it closes its side,
// for at most the close timeout: closing with unread data would send a RST
// that can destroy the close frame before the peer reads it.
func (c *Conn) lingerClose() error {
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok && !c.client {
		if err := cw.CloseWrite(); err != nil {
			return c.closeTCP()
		}
	}
	c.drainToEOF()
	return c.closeTCP()
}
