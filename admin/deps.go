package admin

import (
	"context"

	"github.com/wsd-dev/wsd/admin/token"
	"github.com/wsd-dev/wsd/daemon"
	"github.com/wsd-dev/wsd/session"
)

// Hub is what the admin API needs of the daemon (*daemon.Daemon).
type Hub interface {
	Connections(sel daemon.Selector, after string, limit int) ([]daemon.ConnInfo, string, error)
	Connection(id string) (daemon.ConnInfo, error)
	SendContext(ctx context.Context, id string, typ daemon.MessageType, p []byte) error
	BroadcastContext(ctx context.Context, sel daemon.Selector, typ daemon.MessageType, p []byte) daemon.BroadcastResult
	Close(ctx context.Context, id string, code int, reason string) error
	CloseSelected(sel daemon.Selector, all bool, code int, reason string) (int, error)
	Count(sel daemon.Selector) int
	Stats() daemon.Stats
	WatchSubscribed(ctx context.Context, buffer int, subscribed func(), fn func(daemon.Event) bool) error
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
