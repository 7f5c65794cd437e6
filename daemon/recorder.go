package daemon

import (
	"net/http"
	"time"
)

// ClosedBy says who or what ended a session (PRODUCT.md §6).
type ClosedBy string

// The causes the daemon records. "crash" is only ever written by the
// store's recovery at start.
const (
	ClosedByClient        ClosedBy = "client"         // the client closed or went away
	ClosedByServer        ClosedBy = "server"         // an internal error (a handler panic: 1011)
	ClosedByAdmin         ClosedBy = "admin"          // the admin API
	ClosedByIdleTimeout   ClosedBy = "idle_timeout"   // no pong within the pong timeout
	ClosedBySlowConsumer  ClosedBy = "slow_consumer"  // send queue over its limit, or a write timed out
	ClosedByProtocolError ClosedBy = "protocol_error" // the client broke RFC 6455 (1002, 1007, 1009)
	ClosedByShutdown      ClosedBy = "shutdown"       // SIGTERM/SIGINT drain
	ClosedByTokenExpired  ClosedBy = "token_expired"  // the client token expired (4401)
)

// Close codes the daemon sends besides the RFC 6455 ones.
const (
	// CodeTokenExpired closes a connection whose client token expired.
	CodeTokenExpired = 4401
	// CodePongTimeout closes a connection that did not answer a ping in
	// time (an HTTP 408 analogue in the application range).
	CodePongTimeout = 4408
)

// Recorder receives every session's start and end. The store implements it
// (through an adapter in cmd/wsd). Both methods must return at once: they
// are called on the connection's goroutine; a recorder that cannot keep up
// drops and counts, it never blocks.
type Recorder interface {
	RecordOpen(SessionOpen)
	RecordClose(SessionClose)
}

// SessionOpen describes a session at its upgrade.
type SessionOpen struct {
	ID          string
	Route       string
	RemoteAddr  string
	User        string
	Labels      map[string]string // read during the call only
	Origin      string
	UserAgent   string
	Subprotocol string
	Extensions  string
	ConnectedAt time.Time
}

// SessionClose describes how a session ended.
type SessionClose struct {
	ID          string
	ClosedAt    time.Time
	CloseCode   int // as sent by the side that closed; 1006 when no close frame was exchanged
	CloseReason string
	ClosedBy    ClosedBy
	Error       string // what went wrong, if anything (I/O error, panic)
	MessagesIn  int64
	MessagesOut int64
	BytesIn     int64
	BytesOut    int64
}

// nopRecorder is used when Deps.Recorder is nil.
type nopRecorder struct{}

func (nopRecorder) RecordOpen(SessionOpen)   {}
func (nopRecorder) RecordClose(SessionClose) {}

// Authenticator checks a client's credentials at the handshake (PRODUCT.md
// §5, --client-auth). It is optional; without one every client is anonymous.
type Authenticator interface {
	// AuthenticateClient returns the client's identity, or an error that
	// refuses the handshake with 401.
	AuthenticateClient(r *http.Request) (Identity, error)
}

// Identity is what a client token establishes.
type Identity struct {
	User      string
	Labels    map[string]string // trusted labels from the token
	ExpiresAt time.Time         // zero: never; at expiry the connection is closed with 4401
}
