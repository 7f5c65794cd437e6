package protocol

import "errors"

// Sentinel errors. Handshake errors wrap ErrHandshake; see also *CloseError.
var (
	// ErrHandshake is wrapped by every opening-handshake failure.
	ErrHandshake = errors.New("websocket handshake failed")
	// ErrInvalidClose is returned for a close code or reason that may not be sent.
	ErrInvalidClose = errors.New("invalid close")
	// ErrMessageType is returned when writing a message type other than text or binary.
	ErrMessageType = errors.New("invalid message type")
	// ErrCloseTimeout is wrapped when the peer did not finish the closing handshake in time.
	ErrCloseTimeout = errors.New("closing handshake timed out")
	// ErrControlTooLong is returned for a ping payload above 125 bytes.
	ErrControlTooLong = errors.New("control frame payload longer than 125 bytes")
)
