// Package apitype holds the JSON wire types of wsd's admin API
// (PRODUCT.md §4), shared by the server (package admin), its Go client
// (package admin/client) and wsctl. It imports only the standard library.
//
// Field names are the API's contract: snake_case, times in RFC 3339 with
// nanoseconds, durations in milliseconds (fields ending in _ms).
package apitype

import "time"

// Scopes of admin tokens (PRODUCT.md §4). ScopeAdmin grants all of them.
const (
	ScopeConnectionsRead  = "connections:read"
	ScopeConnectionsWrite = "connections:write"
	ScopeConnectionsClose = "connections:close"
	ScopeSessionsRead     = "sessions:read"
	ScopeAuditRead        = "audit:read"
	// ScopeConnectionsTap lets GET /v1/tap show payload previews.
	ScopeConnectionsTap = "connections:tap"
	ScopeAdmin          = "admin"
)

// Error codes, the "code" of an ErrorBody.
const (
	CodeBadRequest           = "bad_request"
	CodeInvalidSelector      = "invalid_selector"
	CodeUnauthorized         = "unauthorized"
	CodeForbidden            = "forbidden"
	CodeNotFound             = "not_found"
	CodeMethodNotAllowed     = "method_not_allowed"
	CodeConfirmationRequired = "confirmation_required"
	CodeConflict             = "conflict"
	CodePayloadTooLarge      = "payload_too_large"
	CodeHeaderTooLarge       = "header_too_large"
	CodeRateLimited          = "rate_limited"
	CodeUnavailable          = "unavailable"
	CodeInternal             = "internal"
)

// Error is the body of every error answer.
type Error struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody says what went wrong. Matched is set on confirmation_required
// answers: the number of connections the call would close.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Matched *int   `json:"matched,omitempty"`
}

// Connection is one live connection (PRODUCT.md §3).
type Connection struct {
	ID              string            `json:"id"`
	Route           string            `json:"route"`
	RemoteAddr      string            `json:"remote_addr"`
	User            string            `json:"user"`
	Labels          map[string]string `json:"labels"`
	Origin          string            `json:"origin"`
	UserAgent       string            `json:"user_agent"`
	Subprotocol     string            `json:"subprotocol"`
	Extensions      string            `json:"extensions"`
	ConnectedAt     time.Time         `json:"connected_at"`
	LastActivityAt  *time.Time        `json:"last_activity_at"`
	MessagesIn      int64             `json:"messages_in"`
	MessagesOut     int64             `json:"messages_out"`
	BytesIn         int64             `json:"bytes_in"`
	BytesOut        int64             `json:"bytes_out"`
	SendQueueBytes  int64             `json:"send_queue_bytes"`
	OldestQueuedMS  int64             `json:"oldest_queued_ms"`
	RTTMS           *float64          `json:"rtt_ms"`
	TokenExpiresAt  *time.Time        `json:"token_expires_at"`
	WebhookInFlight int               `json:"webhook_in_flight"`
	// Node names the wsd instance that holds the connection; absent on a
	// single node.
	Node string `json:"node,omitempty"`
	// Trace is the connection's tracing on demand while armed (GET
	// /v1/connections/{id} on the node that holds it).
	Trace *TraceArm `json:"trace,omitempty"`
}

// Fleet says whether a fleet-wide answer (several nodes joined by
// --cluster) lacks nodes: Partial is true when at least one node did not
// answer within the deadline (or the bus is down), and MissingNodes names
// those known. Absent on complete answers and on a single node.
type Fleet struct {
	Partial      bool     `json:"partial,omitempty"`
	MissingNodes []string `json:"missing_nodes,omitempty"`
}

// NodeCount is one node's share of a fleet-wide broadcast or bulk close.
type NodeCount struct {
	Matched int `json:"matched"`
	Queued  int `json:"queued"`
	Dropped int `json:"dropped"`
}

// Node is one wsd instance of the fleet, as GET /v1/nodes lists it.
type Node struct {
	Name          string    `json:"name"`
	Address       string    `json:"address,omitempty"` // its admin listener
	Version       string    `json:"version"`
	StartedAt     time.Time `json:"started_at"`
	UptimeSeconds float64   `json:"uptime_seconds"`
	Connections   int       `json:"connections"`
	// Health is "ok", "draining" (shutting down), "degraded" (its history
	// fails) or "disconnected" (the node that answered has lost the bus).
	Health        string    `json:"health"`
	LastHeartbeat time.Time `json:"last_heartbeat"`
	// Self marks the node that answered.
	Self bool `json:"self,omitempty"`
}

// Node health values.
const (
	HealthOK           = "ok"
	HealthDraining     = "draining"
	HealthDegraded     = "degraded"
	HealthDisconnected = "disconnected"
	// HealthCordoned: the node takes no new connections (wsctl cordon, or
	// after a drain) and serves its live ones.
	HealthCordoned = "cordoned"
)

// NodeHealth is a node's health from its state, the most urgent first:
// shutting down, history failing to write, cordoned; else ok. (The
// answering node's loss of the bus, HealthDisconnected, is the fleet's
// view of it, not the node's own.)
func NodeHealth(shuttingDown, degraded, cordoned bool) string {
	switch {
	case shuttingDown:
		return HealthDraining
	case degraded:
		return HealthDegraded
	case cordoned:
		return HealthCordoned
	}
	return HealthOK
}

// NodeList answers GET /v1/nodes, by name.
type NodeList struct {
	Nodes []Node `json:"nodes"`
	Fleet
}

// ConnectionList is one page of live connections, in id (connection)
// order. Next is the cursor of the following page (the after parameter),
// empty on the last page.
type ConnectionList struct {
	Connections []Connection `json:"connections"`
	Next        string       `json:"next,omitempty"`
	Fleet
}

// Message is the body of POST /v1/connections/{id}/messages: exactly one of
// Text and Binary (base64 in JSON).
type Message struct {
	Text   *string `json:"text,omitempty"`
	Binary []byte  `json:"binary,omitempty"`
}

// SendResult answers a send: the message is queued for the connection.
type SendResult struct {
	ID     string `json:"id"`
	Queued bool   `json:"queued"`
	Bytes  int    `json:"bytes"`
}

// BroadcastRequest is the body of POST /v1/broadcast. A selector, or All,
// is required; DryRun counts the matches without sending.
type BroadcastRequest struct {
	Selector string  `json:"selector,omitempty"`
	All      bool    `json:"all,omitempty"`
	Text     *string `json:"text,omitempty"`
	Binary   []byte  `json:"binary,omitempty"`
	DryRun   bool    `json:"dry_run,omitempty"`
}

// BulkResult answers a broadcast or a bulk close. Matched connections
// matched the selector; Queued got the message (or started closing);
// Dropped matched but were already closing (or, for a broadcast, were
// closed as slow consumers by this message). A dry run sets DryRun, counts
// Matched and gives a Sample of the matches; it does nothing.
type BulkResult struct {
	Matched int          `json:"matched"`
	Queued  int          `json:"queued"`
	Dropped int          `json:"dropped"`
	DryRun  bool         `json:"dry_run,omitempty"`
	Sample  []Connection `json:"sample,omitempty"`
	// Nodes gives each node's counts in a fleet (absent on a single node).
	Nodes map[string]NodeCount `json:"nodes,omitempty"`
	Fleet
}

// CloseRequest is the body of POST /v1/close. Above the daemon's bulk
// confirmation threshold the call must carry Confirm equal to the number
// of matching connections (a dry run tells it).
type CloseRequest struct {
	Selector string `json:"selector,omitempty"`
	All      bool   `json:"all,omitempty"`
	Code     int    `json:"code,omitempty"`
	Reason   string `json:"reason,omitempty"`
	DryRun   bool   `json:"dry_run,omitempty"`
	Confirm  *int   `json:"confirm,omitempty"`
}

// CloseResult answers DELETE /v1/connections/{id}: the connection has
// closed and its session is recorded.
type CloseResult struct {
	ID     string `json:"id"`
	Code   int    `json:"code"`
	Reason string `json:"reason"`
}

// Session is one row of session history (PRODUCT.md §6). ClosedAt,
// CloseCode and ClosedBy are empty while the session is open.
type Session struct {
	ID          string            `json:"id"`
	Route       string            `json:"route"`
	RemoteAddr  string            `json:"remote_addr"`
	User        string            `json:"user"`
	Labels      map[string]string `json:"labels"`
	Origin      string            `json:"origin"`
	UserAgent   string            `json:"user_agent"`
	Subprotocol string            `json:"subprotocol"`
	Extensions  string            `json:"extensions"`
	ConnectedAt time.Time         `json:"connected_at"`
	ClosedAt    *time.Time        `json:"closed_at"`
	CloseCode   int               `json:"close_code,omitempty"`
	CloseReason string            `json:"close_reason"`
	ClosedBy    string            `json:"closed_by,omitempty"`
	Error       string            `json:"error,omitempty"`
	MessagesIn  int64             `json:"messages_in"`
	MessagesOut int64             `json:"messages_out"`
	BytesIn     int64             `json:"bytes_in"`
	BytesOut    int64             `json:"bytes_out"`
	Node        string            `json:"node"`
	// TraceID is the session's trace id (hex), absent when it was not
	// traced.
	TraceID string `json:"trace_id,omitempty"`
	// BlackBox holds the last frame headers of a session that ended
	// abnormally, oldest first; absent for every other session.
	BlackBox []Frame `json:"black_box,omitempty"`
	// Live is true when the session is open and its connection is on the
	// node that answered: its counters (messages and bytes) are then the
	// connection's own, read as the answer was made, rather than the zeros
	// history holds until the session ends.
	Live bool `json:"live,omitempty"`
}

// Frame is one frame header of a session's black box (never its payload).
type Frame struct {
	At        time.Time `json:"at"`
	Direction string    `json:"direction"` // "in" (received from the client) or "out" (sent to it)
	// Opcode names the frame's opcode: continuation, text, binary, close,
	// ping, pong, or "opcode N" for a reserved one.
	Opcode string `json:"opcode"`
	Fin    bool   `json:"fin"`
	RSV    uint8  `json:"rsv,omitempty"` // the RSV1-3 bits as 0..7 (RSV1 is 4)
	Length int64  `json:"length"`        // the payload length the header declared
}

// Frame directions.
const (
	DirectionIn  = "in"
	DirectionOut = "out"
)

// SessionList is one page of sessions, newest first. Next is the cursor of
// the following (older) page (the before parameter), empty on the last.
type SessionList struct {
	Sessions []Session `json:"sessions"`
	Next     string    `json:"next,omitempty"`
	Fleet
}

// Event types of GET /v1/events (the SSE "event:" field).
const (
	EventConnect = "connect"
	EventClose   = "close"
	// EventEnd is the last event of a stream that the server ends
	// (shutdown); Reason says why.
	EventEnd = "end"
	// EndReconnect is the Reason of an end event that asks the client to
	// reconnect with Last-Event-ID (the stream reached its maximum age);
	// nothing is lost.
	EndReconnect = "reconnect"
)

// Event is the data of one server-sent event.
type Event struct {
	Type       string      `json:"type"`
	At         time.Time   `json:"at"`
	Connection *Connection `json:"connection,omitempty"`
	Close      *CloseInfo  `json:"close,omitempty"`
	// Missed counts events this subscriber lost because it fell behind,
	// since the previous event it received.
	Missed uint64 `json:"missed,omitempty"`
	Reason string `json:"reason,omitempty"` // for end
}

// CloseInfo says how a connection ended.
type CloseInfo struct {
	Code        int    `json:"code"`
	Reason      string `json:"reason"`
	ClosedBy    string `json:"closed_by"`
	Error       string `json:"error,omitempty"`
	MessagesIn  int64  `json:"messages_in"`
	MessagesOut int64  `json:"messages_out"`
	BytesIn     int64  `json:"bytes_in"`
	BytesOut    int64  `json:"bytes_out"`
}

// Stats answers GET /v1/stats: live counts, totals since start, rates and
// the state of session history.
type Stats struct {
	Version            string            `json:"version"`
	StartedAt          time.Time         `json:"started_at"`
	UptimeSeconds      float64           `json:"uptime_seconds"`
	Draining           bool              `json:"draining"`
	Connections        int               `json:"connections"`
	Handshaking        int               `json:"handshaking"`
	ConnectionsByRoute map[string]int    `json:"connections_by_route"`
	SendQueueBytes     int64             `json:"send_queue_bytes"`
	Accepted           uint64            `json:"accepted"`
	Closed             uint64            `json:"closed"`
	ClosedBy           map[string]uint64 `json:"closed_by"`
	HandshakeFailures  map[string]uint64 `json:"handshake_failures"`
	SlowConsumers      uint64            `json:"slow_consumers"`
	Panics             uint64            `json:"panics"`
	WebhookFailures    uint64            `json:"webhook_failures"`
	WebhookDropped     uint64            `json:"webhook_events_dropped"`
	Rates              Rates             `json:"rates"`
	EventSubscribers   int               `json:"event_subscribers"`
	History            History           `json:"history"`
	// Node names the node these stats are of; in a fleet the top level
	// is the total and Nodes holds each node's own (absent on a single
	// node).
	Node  string  `json:"node,omitempty"`
	Nodes []Stats `json:"nodes,omitempty"`
	// Cluster is the state of the bus, absent on a single node.
	Cluster *Cluster `json:"cluster,omitempty"`
	Fleet
}

// Cluster is the state of the node's link to the fleet's bus (NATS).
type Cluster struct {
	Node      string `json:"node"`
	Connected bool   `json:"connected"`
	Nodes     int    `json:"nodes"` // nodes alive, this one included
}

// Rates are per second, over the last WindowSeconds: the server samples
// its totals on its own clock (every second) and rates span its oldest and
// newest samples, at most ten seconds apart, whoever asks and whenever.
// Until it has two samples (the first second after start) they are
// averages since start. In a fleet each node's are its own sampler's and
// the total's are their sum.
type Rates struct {
	WindowSeconds     float64 `json:"window_seconds"`
	ConnectsPerSecond float64 `json:"connects_per_second"`
	ClosesPerSecond   float64 `json:"closes_per_second"`
}

// History is the state of the session store. While Degraded, writes fail
// and the history endpoints answer 503; WebSocket traffic is unaffected.
type History struct {
	Status      string     `json:"status"` // "ok" or "degraded"
	Degraded    bool       `json:"degraded"`
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
	Queued      uint64     `json:"queued"`
	Dropped     uint64     `json:"dropped"`
	Written     uint64     `json:"written"`
	LastCommit  *time.Time `json:"last_commit,omitempty"`
	WALBytes    int64      `json:"wal_bytes"`
}

// AuditEntry is one mutating admin call.
type AuditEntry struct {
	ID         int64          `json:"id"`
	At         time.Time      `json:"at"`
	Subject    string         `json:"subject"`
	Action     string         `json:"action"`
	Target     string         `json:"target"`
	Parameters map[string]any `json:"parameters"`
	Matched    int64          `json:"matched"`
	Affected   int64          `json:"affected"`
	Result     string         `json:"result"`
	// Node names the node that received the call and wrote the entry (in
	// a fleet; absent on a single node).
	Node string `json:"node,omitempty"`
}

// AuditList is one page of audit entries, newest first; Next is the
// before cursor of the following page.
type AuditList struct {
	Entries []AuditEntry `json:"entries"`
	Next    string       `json:"next,omitempty"`
	Fleet
}

// Audit actions.
const (
	ActionSend      = "connection.send"
	ActionClose     = "connection.close"
	ActionBroadcast = "broadcast"
	ActionBulkClose = "connections.close"
	ActionCordon    = "node.cordon"
	ActionTrace     = "connection.trace"
	ActionUncordon  = "node.uncordon"
	ActionDrain     = "node.drain"
	// ActionRefused is a call refused for its token (401) or its scope
	// (403); Target is "METHOD /path".
	ActionRefused = "refused"
	// ResultOK is the result of a call that succeeded; otherwise the
	// result is the error code of the answer.
	ResultOK = "ok"
)

// Cordon answers POST and DELETE /v1/cordon: whether the node now refuses
// new upgrades (503 with Retry-After, /readyz failing).
type Cordon struct {
	Cordoned bool `json:"cordoned"`
}

// DrainRequest is the body of POST /v1/drain. Selector picks the
// connections to close ("" or "all": every one); Over is the window the
// closes are spread over, as a Go duration ("5m"; "" or "0s": at once);
// Code and Reason default to 1012 and "draining".
type DrainRequest struct {
	Selector string `json:"selector,omitempty"`
	Over     string `json:"over,omitempty"`
	Code     int    `json:"code,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// Drain is the progress of the node's drain (the running one, or the
// last): POST /v1/drain answers it as the drain starts, GET /v1/drain
// while it runs and after.
type Drain struct {
	Running     bool       `json:"running"`
	Cordoned    bool       `json:"cordoned"`
	Selector    string     `json:"selector"`
	Code        int        `json:"code"`
	Reason      string     `json:"reason"`
	OverSeconds float64    `json:"over_seconds"`
	StartedAt   time.Time  `json:"started_at"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
	Total       int        `json:"total"`
	Closed      int        `json:"closed"`
	Remaining   int        `json:"remaining"`
	ETASeconds  float64    `json:"eta_seconds"`
	// Error says why a drain ended early (the node shut down).
	Error string `json:"error,omitempty"`
}

// Why answers GET /v1/sessions/{id}/why: in plain words why a session
// ended (or, for a live one, how it is doing), with what explains it.
type Why struct {
	ID string `json:"id"`
	// Live is true when the connection is open on the node that answered.
	Live bool `json:"live"`
	// Summary says it in one or two sentences.
	Summary     string     `json:"summary"`
	ClosedAt    *time.Time `json:"closed_at,omitempty"`
	CloseCode   int        `json:"close_code,omitempty"`
	CloseReason string     `json:"close_reason,omitempty"`
	ClosedBy    string     `json:"closed_by,omitempty"`
	// Meaning is what ClosedBy means, in plain words.
	Meaning string `json:"closed_by_meaning,omitempty"`
	Error   string `json:"error,omitempty"`
	// Limits are the configured limits or timeouts that ended the
	// session, with their values now.
	Limits []Limit `json:"limits,omitempty"`
	// BlackBox holds the last frame headers of a session that ended
	// abnormally, oldest first.
	BlackBox []Frame `json:"black_box,omitempty"`
	// Actions are the admin calls that targeted the connection (by its
	// id), oldest first, with who made them.
	Actions []AuditEntry `json:"admin_actions"`
	TraceID string       `json:"trace_id,omitempty"`
	// TraceURL links to the trace (wsd --trace-url), when configured.
	TraceURL string `json:"trace_url,omitempty"`
	// Connection is the live connection (queue, RTT, last activity).
	Connection *Connection `json:"connection,omitempty"`
	// Session is the session's history row, when history has it.
	Session *Session `json:"session,omitempty"`
}

// Limit is a configured limit or timeout, named as wsd's flag is.
type Limit struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// TraceRequest is the body of POST /v1/connections/{id}/trace: how long
// to trace every frame of the connection, as a Go duration ("5m";
// default 5m, at most 1h).
type TraceRequest struct {
	For string `json:"for,omitempty"`
}

// TraceArm is a connection's tracing on demand: every frame goes into
// trace TraceID until Until, whatever the sampler says.
type TraceArm struct {
	ID       string    `json:"id,omitempty"`
	TraceID  string    `json:"trace_id"`
	Until    time.Time `json:"until"`
	TraceURL string    `json:"trace_url,omitempty"`
}

// Tap event types of GET /v1/tap (one JSON object a line).
const (
	TapSubscribed = "subscribed" // the first line: every message from now on is streamed
	TapMessage    = "message"
	TapEnd        = "end" // the server ends the stream (shutdown, or it reached its maximum age)
)

// TapEvent is one line of GET /v1/tap: a message a tapped connection
// received (direction "in") or was sent ("out"). Payload (base64 in JSON)
// is a preview of at most MaxTapPreview bytes, only with payload=1 and the
// connections:tap scope; Truncated says it is shorter than Size. Dropped
// counts the events this stream lost because it read too slowly (or, in a
// fleet, that the bus lost), since the previous one.
type TapEvent struct {
	Type      string    `json:"type"`
	At        time.Time `json:"at,omitempty"`
	ID        string    `json:"id,omitempty"`
	Direction string    `json:"direction,omitempty"`
	Message   string    `json:"message,omitempty"` // text or binary
	Size      int       `json:"size"`
	Payload   []byte    `json:"payload,omitempty"`
	Truncated bool      `json:"truncated,omitempty"`
	Dropped   uint64    `json:"dropped,omitempty"`
	// Fleet, on the "subscribed" line of a fleet's tap of a selector,
	// names the nodes that could not be tapped (the stream goes on
	// without them).
	Fleet
}

// MaxTapPreview is the most payload bytes a tap event shows.
const MaxTapPreview = 256
