package protocol

import "errors"

// Sentinel errors. Handshake errors wrap ErrHandshake; see also *CloseError.
var (
	// ErrHandshake is wrapped by every opening-handshake failure.
	ErrHandshake = errors.New("websocket handshake failed")
	// ErrHeadTooLarge is wrapped by the *HandshakeError of a request head
	// that did not end within the size limit (HeadReader.ReadRequest,
	// AcceptRaw); its status is 431 Request Header Fields Too Large.
	ErrHeadTooLarge = errors.New("request head too large")
	// ErrMalformedRequest is wrapped by the *HandshakeError of bytes that
	// are not an HTTP/1.x request head (HeadReader.ReadRequest, AcceptRaw);
	// its status is 400 Bad Request. A head cut short by a read error or a
	// deadline is not malformed: that error is returned instead.
	ErrMalformedRequest = errors.New("malformed HTTP request")
	// ErrInvalidClose is returned for a close code or reason that may not be sent.
	ErrInvalidClose = errors.New("invalid close")
	// ErrMessageType is returned when writing a message type other than text or binary.
	ErrMessageType = errors.New("invalid message type")
	// ErrCloseTimeout is wrapped when the peer did not finish the closing handshake in time.
	ErrCloseTimeout = errors.New("closing handshake timed out")
	// ErrControlTooLong is returned for a ping payload above 125 bytes.
	ErrControlTooLong = errors.New("control frame payload longer than 125 bytes")
)
