package session

// ClosedBy says who or what ended a session (PRODUCT.md §6). It is stored
// in history as closed_by and is "" while a session is open.
type ClosedBy string

// The causes of a session's end, in the order AllClosedBy lists them.
const (
	ClosedByClient        ClosedBy = "client"
	ClosedByServer        ClosedBy = "server"
	ClosedByAdmin         ClosedBy = "admin"
	ClosedByIdleTimeout   ClosedBy = "idle_timeout"
	ClosedBySlowConsumer  ClosedBy = "slow_consumer"
	ClosedByProtocolError ClosedBy = "protocol_error"
	ClosedByShutdown      ClosedBy = "shutdown"
	ClosedByTokenExpired  ClosedBy = "token_expired"
	ClosedByDrain         ClosedBy = "drain"
	// ClosedByPolicy: the client broke a usage policy such as an inbound
	// message or byte rate limit (1008).
	ClosedByPolicy ClosedBy = "policy"
	// ClosedByCrash is written by the store's crash recovery at start for
	// the sessions a previous run left open, never by the daemon.
	ClosedByCrash ClosedBy = "crash"
)

// Close codes wsd sends besides the RFC 6455 ones, in the application range
// (4000-4999).
const (
	// CodeTokenExpired closes a connection whose client token expired
	// (ClosedByTokenExpired).
	CodeTokenExpired = 4401
	// CodePongTimeout closes a connection that did not answer a ping in
	// time (ClosedByIdleTimeout), an HTTP 408 analogue.
	CodePongTimeout = 4408
)

// closers lists every ClosedBy value once, in AllClosedBy's order, with its
// meaning. It is never modified.
var closers = [...]struct {
	by      ClosedBy
	meaning string
}{
	{ClosedByClient, "the client closed the connection or went away"},
	{ClosedByServer, "wsd ended the connection after an internal error, such as a failing handler (1011)"},
	{ClosedByAdmin, "an operator closed the connection through the admin API"},
	{ClosedByIdleTimeout, "the client did not answer a ping within the pong timeout"},
	{ClosedBySlowConsumer, "the client read too slowly: its send queue went over its limit or a write timed out"},
	{ClosedByProtocolError, "the client broke the WebSocket protocol or a message limit (1002, 1007 invalid UTF-8, 1009 too big)"},
	{ClosedByShutdown, "wsd was shutting down (SIGTERM or SIGINT)"},
	{ClosedByTokenExpired, "the client's token expired (4401)"},
	{ClosedByDrain, "an operator drained the connection (wsctl drain)"},
	{ClosedByPolicy, "the client went over a usage limit, such as its inbound message or byte rate (1008)"},
	{ClosedByCrash, "wsd stopped without recording the end (crash, kill -9, power loss); found open at the next start"},
}

// AllClosedBy returns every ClosedBy value, in a fixed order: the order in
// which the admin API and wsctl list them. The slice is the caller's.
func AllClosedBy() []ClosedBy {
	out := make([]ClosedBy, len(closers))
	for i, c := range closers {
		out[i] = c.by
	}
	return out
}

// Valid reports whether c is one of the values AllClosedBy lists.
func (c ClosedBy) Valid() bool { return c.Meaning() != "" }

// Meaning says in plain words who or what ended a session closed by c, for
// an operator asking why a connection ended. It is "" for a value that is
// not Valid, including "" (a session still open).
func (c ClosedBy) Meaning() string {
	for _, x := range closers {
		if x.by == c {
			return x.meaning
		}
	}
	return ""
}
