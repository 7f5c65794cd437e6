package session

import (
	"errors"
	"time"
)

// Vocabulary of the operator verbs (PRODUCT.md §10): cordon and drain.

// Errors of cordon and drain, matched with errors.Is.
var (
	// ErrDrainRunning: a drain is running on the node; a second one, or
	// an uncordon, must wait for it to end (409).
	ErrDrainRunning = errors.New("a drain is already running")
)

// DrainStatus is the progress of a node's drain: the one running, or the
// last one.
type DrainStatus struct {
	// Running is true until every matched connection has been told to
	// close (or the drain was cut short by a shutdown).
	Running bool
	// Selector is the drain's selector ("" for every connection).
	Selector string
	// Code and Reason are what the connections are closed with.
	Code   int
	Reason string
	// Over is the window the closes are spread over.
	Over time.Duration
	// StartedAt is when the drain began; FinishedAt when it ended (zero
	// while it runs).
	StartedAt  time.Time
	FinishedAt time.Time
	// Total is how many connections the drain matched when it began;
	// Closed how many it has told to close so far; Remaining the rest.
	Total     int
	Closed    int
	Remaining int
	// ETA is how long until the last close is due (0 once finished).
	ETA time.Duration
	// Error says why a drain ended early ("" when it completed).
	Error string
}

// Limit is a configured limit or timeout that explains a session's end,
// named as wsd's flag is ("pong-timeout") with its value as configured
// ("20s").
type Limit struct {
	Name  string
	Value string
}

// ErrTracingOff: tracing is not set up on the node, so a connection's
// frames cannot be traced on demand (503).
var ErrTracingOff = errors.New("tracing is off on this node")

// TraceArm is a connection's tracing on demand: every frame of it is
// traced, whatever the sampler and --trace-frames say, until Until.
type TraceArm struct {
	TraceID string
	Until   time.Time
}

// TapEvent is one message a tapped connection received or was sent
// (`wsctl tail`): its metadata, and a preview of its payload only when the
// tap asked for one.
type TapEvent struct {
	At     time.Time
	ConnID string
	In     bool // received from the client; false: sent to it
	Type   MessageType
	Size   int // the message's payload length
	// Payload is the first bytes of the payload (a copy), nil unless the
	// tap asked for a preview; Truncated says it is shorter than Size.
	Payload   []byte
	Truncated bool
}
