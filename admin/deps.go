package admin

import (
	"context"

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
