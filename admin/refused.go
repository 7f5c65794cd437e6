package admin

import (
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/admin/token"
	"github.com/wsd-dev/wsd/session"
)

// auditRefused records a call refused for its token (401) or its scope
// (403), at most RefusedAuditPerSecond a second; the rest are counted and
// reported with the next entry written and in a log line.
func (s *Server) auditRefused(r *http.Request, claims *token.Claims, err error) {
	var e *Error
	if !errors.As(err, &e) || (e.Status != http.StatusUnauthorized && e.Status != http.StatusForbidden) {
		return
	}
	now := s.now()
	ok, suppressed := s.refused.allow(now, s.cfg.RefusedAuditPerSecond)
	if !ok {
		return
	}
	if suppressed > 0 {
		s.log.Warn("admin: refused calls not audited (over the rate)", "count", suppressed)
	}
	a := session.AuditEntry{
		At:     now,
		Action: apitype.ActionRefused,
		Target: r.Method + " " + r.URL.Path,
		Result: e.Code,
	}
	if claims != nil {
		a.Subject = claims.Subject
	}
	params := map[string]any{"remote": r.RemoteAddr, "message": e.Message}
	if suppressed > 0 {
		params["suppressed_before"] = suppressed
	}
	b, jerr := json.Marshal(params)
	if jerr != nil {
		s.log.Error("admin: encode audit parameters", "action", a.Action, "err", jerr)
	}
	a.Parameters = b
	s.hist.RecordAudit(a)
}

// refusedLimiter allows a number of events per wall-clock second and
// counts the ones it refuses.
type refusedLimiter struct {
	mu         sync.Mutex
	second     int64 // unix second of the current window
	n          int   // events allowed in it
	suppressed int64 // refused since the last allowed event
}

// allow reports whether one more event fits in now's second and, if it
// does, how many were refused since the last one allowed.
func (l *refusedLimiter) allow(now time.Time, perSecond int) (bool, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if sec := now.Unix(); sec != l.second {
		l.second, l.n = sec, 0
	}
	if l.n >= perSecond {
		l.suppressed++
		return false, 0
	}
	l.n++
	s := l.suppressed
	l.suppressed = 0
	return true, s
}
