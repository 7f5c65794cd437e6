package session

import "time"

// Conn is a live connection as the registry describes it: what its
// session's Open holds, plus its counters and send state now.
type Conn struct {
	ID              string
	Route           string
	RemoteAddr      string
	User            string
	Labels          map[string]string // a copy; never nil
	Origin          string
	UserAgent       string
	Subprotocol     string
	Extensions      string
	ConnectedAt     time.Time
	LastActivityAt  time.Time // zero until the first message
	MessagesIn      int64
	MessagesOut     int64
	BytesIn         int64
	BytesOut        int64
	SendQueueBytes  int64
	OldestQueuedMS  int64         // age of the oldest unsent message; 0 when none
	RTT             time.Duration // from the last ping/pong; 0 until measured
	TokenExpiresAt  time.Time     // zero when none
	WebhookInFlight int
	// Node names the wsd instance that holds the connection; "" on a
	// single node.
	Node string
}

// MessageType is the type of a message sent to connections: text (UTF-8)
// or binary.
type MessageType uint8

// Message types.
const (
	Text MessageType = iota + 1
	Binary
)

// String returns "text" or "binary" ("unknown" for any other value).
func (t MessageType) String() string {
	switch t {
	case Text:
		return "text"
	case Binary:
		return "binary"
	}
	return "unknown"
}

// BroadcastResult counts what a broadcast did.
type BroadcastResult struct {
	Matched int // connections the selector matched
	Queued  int // connections the message was queued for
	Dropped int // matched but closing, or closed as slow consumers by this message
}

// EventType is the kind of a connection event.
type EventType string

// Event types.
const (
	EventConnect EventType = "connect"
	EventClose   EventType = "close"
)

// Event is a connection opening or closing, as delivered to watchers.
type Event struct {
	Type EventType
	At   time.Time
	Conn Conn
	// Close is set for close events.
	Close *Close
	// Missed counts the events this watcher lost (its buffer was full)
	// since the previous event it received.
	Missed uint64
}

// Stats are a node's live counts and totals since its start.
type Stats struct {
	StartedAt            time.Time
	Connections          int // live
	Handshaking          int // admitted, handshake in progress
	Draining             bool
	Accepted             uint64            // upgrades since start
	HandshakeFailures    map[string]uint64 // by reason
	ClosedBy             map[ClosedBy]uint64
	SlowConsumers        uint64
	Panics               uint64
	WebhookFailures      uint64
	WebhookEventsDropped uint64
	ConnectionsByRoute   map[string]int
	SendQueueBytes       int64 // over all connections
}

// Add adds o into s, as a fleet's totals are made from its nodes': counts
// and totals summed (maps included, allocated when nil), the earliest
// start, draining when either is.
func (s *Stats) Add(o Stats) {
	if s.StartedAt.IsZero() || !o.StartedAt.IsZero() && o.StartedAt.Before(s.StartedAt) {
		s.StartedAt = o.StartedAt
	}
	s.Connections += o.Connections
	s.Handshaking += o.Handshaking
	s.Draining = s.Draining || o.Draining
	s.Accepted += o.Accepted
	s.SlowConsumers += o.SlowConsumers
	s.Panics += o.Panics
	s.WebhookFailures += o.WebhookFailures
	s.WebhookEventsDropped += o.WebhookEventsDropped
	s.SendQueueBytes += o.SendQueueBytes
	if s.HandshakeFailures == nil {
		s.HandshakeFailures = map[string]uint64{}
	}
	for k, v := range o.HandshakeFailures {
		s.HandshakeFailures[k] += v
	}
	if s.ClosedBy == nil {
		s.ClosedBy = map[ClosedBy]uint64{}
	}
	for k, v := range o.ClosedBy {
		s.ClosedBy[k] += v
	}
	if s.ConnectionsByRoute == nil {
		s.ConnectionsByRoute = map[string]int{}
	}
	for k, v := range o.ConnectionsByRoute {
		s.ConnectionsByRoute[k] += v
	}
}
