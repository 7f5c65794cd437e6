package session

import "time"

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
}

// Closed reports whether the session had ended when the record was read.
func (r Record) Closed() bool { return !r.ClosedAt.IsZero() }
