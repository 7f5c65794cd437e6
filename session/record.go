package session

import (
	"strconv"
	"time"
)

// Open is the record of a session's start, emitted by the daemon at the
// upgrade and written by the store as a new row of history.
type Open struct {
	// ID identifies the session: unique and sortable across restarts
	// (a ULID). Required; a record without one is dropped.
	ID string
	// Route is the path the client upgraded on ("/chat").
	Route string
	// RemoteAddr is the client's address (host:port), from
	// X-Forwarded-For when the peer is a trusted proxy.
	RemoteAddr string
	// User is the subject of the client's token; "" for an anonymous
	// client.
	User string
	// Labels are the session's labels (token, route and query). A
	// recorder reads the map during the call only and does not keep it.
	Labels map[string]string
	// Origin and UserAgent are the request's headers of those names.
	Origin    string
	UserAgent string
	// Subprotocol and Extensions are what the handshake agreed
	// (Sec-WebSocket-Protocol and Sec-WebSocket-Extensions); "" for none.
	Subprotocol string
	Extensions  string
	// ConnectedAt is when the upgrade completed. Zero means the time the
	// recorder receives the record.
	ConnectedAt time.Time
	// TraceID is the session's trace id in lowercase hex (32 characters),
	// so that history leads to the trace; "" when the session is not
	// traced.
	TraceID string
}

// Close is the record of a session's end, emitted by the daemon once the
// connection is gone and written by the store into the session's row. It
// may arrive before its Open, or without one.
type Close struct {
	// ID is the session's Open.ID. Required.
	ID string
	// ClosedAt is when the connection ended. Zero means the time the
	// recorder receives the record.
	ClosedAt time.Time
	// CloseCode is the close code as sent by the side that closed, 1006
	// when no close frame was exchanged, 0 when none is known.
	CloseCode int
	// CloseReason is the reason sent with the close code.
	CloseReason string
	// ClosedBy says who or what ended the session.
	ClosedBy ClosedBy
	// Error is what went wrong, if anything (an I/O error, a panic, a
	// protocol violation); "" for an orderly close.
	Error string
	// MessagesIn and MessagesOut count the messages received from and
	// sent to the client; BytesIn and BytesOut their payload bytes.
	MessagesIn  int64
	MessagesOut int64
	BytesIn     int64
	BytesOut    int64
	// BlackBox holds the headers of the last frames the connection
	// received and sent, oldest first (PRODUCT.md §10). The daemon sets it
	// only when the session ended abnormally (1006, a pong timeout, a
	// protocol error, a message too big, a slow consumer); nil otherwise.
	// A recorder keeps at most the last MaxBlackBoxFrames of it.
	BlackBox []Frame
}

// MaxBlackBoxFrames is the most frame headers history keeps of a
// session's black box: the last ones.
const MaxBlackBoxFrames = 64

// Frame is the header of one WebSocket frame as the black box keeps it:
// when it passed, which way, and what its header said. Never its payload.
type Frame struct {
	At     time.Time // when the frame was read or written
	In     bool      // received from the client; false: sent to it
	Opcode uint8     // RFC 6455 §5.2: 0 continuation, 1 text, 2 binary, 8 close, 9 ping, 10 pong
	Fin    bool      // the FIN bit: the last frame of its message
	RSV    uint8     // the RSV1-3 bits as a number 0..7 (RSV1 is 4, RSV3 is 1)
	Len    int64     // the payload length the header declared
}

// OpcodeName names f's opcode ("text", "ping", ...), or "opcode N" for
// one RFC 6455 reserves.
func (f Frame) OpcodeName() string {
	switch f.Opcode {
	case 0:
		return "continuation"
	case 1:
		return "text"
	case 2:
		return "binary"
	case 8:
		return "close"
	case 9:
		return "ping"
	case 10:
		return "pong"
	}
	return "opcode " + strconv.Itoa(int(f.Opcode))
}

// Record is one session as history holds it: its Open and, once it ended,
// its Close, and the node that wrote it. The fields mean what they mean in
// Open and Close.
type Record struct {
	ID          string
	Route       string
	RemoteAddr  string
	User        string
	Labels      map[string]string // never nil when read from history
	Origin      string
	UserAgent   string
	Subprotocol string
	Extensions  string
	ConnectedAt time.Time
	ClosedAt    time.Time // zero while the session is open
	CloseCode   int       // 0 when none was recorded
	CloseReason string
	ClosedBy    ClosedBy // "" while the session is open
	Error       string
	MessagesIn  int64
	MessagesOut int64
	BytesIn     int64
	BytesOut    int64
	// Node names the wsd instance that wrote the row.
	Node string
	// TraceID is Open.TraceID: "" when the session was not traced.
	TraceID string
	// BlackBox is Close.BlackBox: nil unless the session ended abnormally
	// (and not for a session closed by crash recovery, whose frames were
	// lost with the process).
	BlackBox []Frame
}

// Field makes a Record matchable by a Selector, as Conn is: the built-in
// fields are present when not empty, labels when set.
func (r Record) Field(key string) (string, bool) {
	var v string
	switch key {
	case FieldID:
		v = r.ID
	case FieldUser:
		v = r.User
	case FieldRoute:
		v = r.Route
	case FieldRemoteAddr:
		v = r.RemoteAddr
	default:
		v, ok := r.Labels[key]
		return v, ok
	}
	return v, v != ""
}

// Closed reports whether the session had ended when the record was read.
func (r Record) Closed() bool { return !r.ClosedAt.IsZero() }
