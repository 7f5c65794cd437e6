package admin

import (
	"context"
	"time"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/admin/token"
	"github.com/wsd-dev/wsd/session"
)

// Hub is what the admin API needs of the live connections: the local
// daemon (*daemon.Daemon), or the fleet through package cluster.
type Hub interface {
	Connections(sel session.Selector, after string, limit int) ([]session.Conn, string, error)
	Connection(id string) (session.Conn, error)
	SendContext(ctx context.Context, id string, typ session.MessageType, p []byte) error
	BroadcastContext(ctx context.Context, sel session.Selector, typ session.MessageType, p []byte) session.BroadcastResult
	Close(ctx context.Context, id string, code int, reason string) error
	CloseSelected(sel session.Selector, all bool, code int, reason string) (int, error)
	Count(sel session.Selector) int
	Stats() session.Stats
	WatchSubscribed(ctx context.Context, buffer int, subscribed func(), fn func(session.Event) bool) error
	Watchers() int
}

// Node is what the admin API needs of the node that answers to cordon
// and drain it (*daemon.Daemon; in a fleet too, these act on this node).
type Node interface {
	Cordon()
	Uncordon() error
	Cordoned() bool
	Drain(ctx context.Context, sel session.Selector, over time.Duration, code int, reason string) (session.DrainStatus, error)
	DrainStatus() (session.DrainStatus, bool)
	// Limits names the configured limits that end sessions closed so.
	Limits(by session.ClosedBy, code int, errText string) []session.Limit
	// TraceConnection traces every frame of a connection for a while;
	// ConnectionTrace reports it while armed.
	TraceConnection(id string, span time.Duration) (session.TraceArm, error)
	ConnectionTrace(id string) (session.TraceArm, bool)
	// Tap streams the messages of one connection (id) or of the ones sel
	// matches to fn, dropping what fn does not keep up with.
	Tap(ctx context.Context, sel session.Selector, id string, preview, buffer int, subscribed func(), fn func(ev session.TapEvent, dropped uint64) bool) error
}

// History is what the admin API needs of session history (wsd passes its
// *store.Store). Reads report session.ErrNotFound, session.ErrInvalidFilter and
// session.ErrUnavailable (wrapped), which the API answers with 404, 400
// and 503. RecordAudit must not block.
type History interface {
	ListSessions(ctx context.Context, f session.Filter) (session.Page, error)
	GetSession(ctx context.Context, id string) (session.Record, error)
	ListAudit(ctx context.Context, f session.AuditFilter) ([]session.AuditEntry, error)
	RecordAudit(a session.AuditEntry)
	Health() session.Health
}

// Tokens verifies admin tokens (*token.Verifier).
type Tokens interface {
	Verify(raw string) (*token.Claims, error)
}

// FleetHub is what the admin API uses besides Hub when the Hub answers for
// several nodes (package cluster): the same calls, each saying whether
// nodes were missing (apitype.Fleet) and giving per-node counts, plus this
// node's own view where an answer is about the node that answers. A single
// node's Hub (the daemon) does not implement it, and the API answers as it
// always did.
type FleetHub interface {
	Hub
	FleetConnections(sel session.Selector, after string, limit int) ([]session.Conn, string, apitype.Fleet, error)
	FleetCount(sel session.Selector) (int, apitype.Fleet)
	FleetBroadcast(ctx context.Context, sel session.Selector, typ session.MessageType, p []byte) (session.BroadcastResult, map[string]apitype.NodeCount, apitype.Fleet)
	FleetCloseSelected(sel session.Selector, all bool, code int, reason string) (int, map[string]int, apitype.Fleet, error)
	// FleetStats returns each node's stats by node name, and the rates
	// each node's own sampler measured (by name; a node may give none).
	FleetStats() (map[string]session.Stats, map[string]session.Rates, apitype.Fleet)
	// Nodes lists the fleet's nodes by name.
	Nodes() ([]apitype.Node, apitype.Fleet)
	ClusterState() apitype.Cluster
	// LocalConnection is this node's alone.
	LocalConnection(id string) (session.Conn, error)
}

// FleetHistory is what the admin API uses besides History when the
// History answers for several nodes: pages merged from every node's, with
// composite cursors, saying whether nodes were missing.
type FleetHistory interface {
	History
	FleetSessions(ctx context.Context, f session.Filter) (session.Page, apitype.Fleet, error)
	// FleetAudit ignores f.BeforeID: before is its own cursor ("" for the
	// first page). nodes[i] names the node that wrote entries[i].
	FleetAudit(ctx context.Context, f session.AuditFilter, before string) (entries []session.AuditEntry, nodes []string, next string, fleet apitype.Fleet, err error)
}

// FleetVerbs is what the admin API uses, when its Hub answers for a fleet
// (package cluster), to run the operator verbs on other nodes: a node's by
// its name (?node=NAME), a connection's on the node its id names. An
// unknown node is an error with an UnknownNode() string method (404); a
// node that does not answer in time, one with FleetUnavailable() (503);
// the node's own errors are session's sentinels, as the Node's are.
type FleetVerbs interface {
	// CordonNode cordons (on) or uncordons a node and says whether it is
	// cordoned now.
	CordonNode(ctx context.Context, node string, on bool) (bool, error)
	// DrainNode starts a drain on a node (Node.Drain) and says whether it
	// is cordoned.
	DrainNode(ctx context.Context, node string, sel session.Selector, over time.Duration, code int, reason string) (session.DrainStatus, bool, error)
	// NodeDrainStatus is a node's Node.DrainStatus, and whether it is
	// cordoned.
	NodeDrainStatus(ctx context.Context, node string) (st session.DrainStatus, ok, cordoned bool, err error)
	// NodeLimits is a node's Node.Limits.
	NodeLimits(ctx context.Context, node string, by session.ClosedBy, code int, errText string) ([]session.Limit, error)
	// FleetTraceConnection and FleetConnectionTrace are Node's
	// TraceConnection and ConnectionTrace on the connection's node.
	FleetTraceConnection(ctx context.Context, id string, span time.Duration) (session.TraceArm, error)
	FleetConnectionTrace(ctx context.Context, id string) (session.TraceArm, bool, error)
	// FleetTap is Node.Tap on the connection's node (id) or on every node
	// (sel), merged; subscribed gets the nodes that could not be tapped.
	FleetTap(ctx context.Context, sel session.Selector, id string, preview, buffer int, subscribed func(apitype.Fleet), fn func(ev session.TapEvent, dropped uint64) bool) error
}
