package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/wsd-dev/wsd/session"
)

const sessionColumns = `id, route, remote_addr, user, labels, origin, user_agent,
	subprotocol, extensions, connected_at, closed_at, close_code, close_reason,
	closed_by, error, messages_in, messages_out, bytes_in, bytes_out, node,
	trace_id, black_box`

// ListSessions returns sessions newest first (by connected_at, then id),
// one page at a time with keyset pagination: pass the page's Next as the
// following filter's Before. Rows written after the first page do not shift
// later pages. While the store is degraded it returns an error wrapping
// session.ErrUnavailable; a malformed filter gives session.ErrInvalidFilter.
func (s *Store) ListSessions(ctx context.Context, f session.Filter) (session.Page, error) {
	limit, err := clampLimit(f.Limit)
	if err != nil {
		return session.Page{}, fmt.Errorf("list sessions: %w", err)
	}
	var (
		where []string
		args  []any
	)
	if f.Before != "" {
		at, id, err := decodeCursor(f.Before)
		if err != nil {
			return session.Page{}, fmt.Errorf("list sessions: %w", err)
		}
		where = append(where, "(connected_at, id) < (?, ?)")
		args = append(args, at, id)
	}
	if !f.Since.IsZero() {
		where = append(where, "connected_at >= ?")
		args = append(args, f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		where = append(where, "connected_at < ?")
		args = append(args, f.Until.UnixNano())
	}
	if f.User != "" {
		// The user index is partial (WHERE user != ''): SQLite uses it only
		// when the query states that condition too.
		where = append(where, "user = ? AND user != ''")
		args = append(args, f.User)
	}
	if f.Route != "" {
		where = append(where, "route = ?")
		args = append(args, f.Route)
	}
	if f.CloseCode != 0 {
		where = append(where, "close_code = ?")
		args = append(args, f.CloseCode)
	}
	if f.ClosedBy != "" {
		where = append(where, "closed_by = ?")
		args = append(args, string(f.ClosedBy))
	}
	if f.RemoteAddr != "" {
		cond, a := remoteWhere(f.RemoteAddr)
		where, args = append(where, cond), append(args, a...)
	}
	sw, sa := selectorWhere(f.Selector)
	where, args = append(where, sw...), append(args, sa...)
	if err := s.readable(); err != nil {
		return session.Page{}, fmt.Errorf("list sessions: %w", err)
	}

	q := "SELECT " + sessionColumns + " FROM sessions"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY connected_at DESC, id DESC LIMIT ?"
	args = append(args, limit+1) // one more tells whether a next page exists

	ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return session.Page{}, fmt.Errorf("list sessions: %w", err)
	}
	page := session.Page{Sessions: make([]session.Record, 0, min(limit, 64))}
	for rows.Next() {
		sess, err := scanSession(rows)
		if err != nil {
			return session.Page{}, closeRows(rows, fmt.Errorf("list sessions: %w", err))
		}
		page.Sessions = append(page.Sessions, sess)
	}
	if err := closeRows(rows, rows.Err()); err != nil {
		return session.Page{}, fmt.Errorf("list sessions: %w", err)
	}
	if len(page.Sessions) > limit {
		page.Sessions = page.Sessions[:limit]
		last := page.Sessions[limit-1]
		page.Next = encodeCursor(last.ConnectedAt.UnixNano(), last.ID)
	}
	return page, nil
}

// GetSession returns one session, or an error wrapping session.ErrNotFound. A session
// is visible once the writer has committed it (normally within
// Config.FlushInterval of RecordOpen).
func (s *Store) GetSession(ctx context.Context, id string) (session.Record, error) {
	if err := s.readable(); err != nil {
		return session.Record{}, fmt.Errorf("get session: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	row := s.rdb.QueryRowContext(ctx, "SELECT "+sessionColumns+" FROM sessions WHERE id = ?", id)
	sess, err := scanSession(row)
	if errors.Is(err, sql.ErrNoRows) {
		return session.Record{}, fmt.Errorf("get session %q: %w", id, session.ErrNotFound)
	}
	if err != nil {
		return session.Record{}, fmt.Errorf("get session %q: %w", id, err)
	}
	return sess, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanSession(sc scanner) (session.Record, error) {
	var (
		s            session.Record
		labels       string
		connected    int64
		closed, code sql.NullInt64
		closedBy     sql.NullString
		box          []byte
	)
	err := sc.Scan(&s.ID, &s.Route, &s.RemoteAddr, &s.User, &labels, &s.Origin,
		&s.UserAgent, &s.Subprotocol, &s.Extensions, &connected, &closed, &code,
		&s.CloseReason, &closedBy, &s.Error, &s.MessagesIn, &s.MessagesOut,
		&s.BytesIn, &s.BytesOut, &s.Node, &s.TraceID, &box)
	if err != nil {
		return session.Record{}, err
	}
	s.ConnectedAt = time.Unix(0, connected).UTC()
	if closed.Valid {
		s.ClosedAt = time.Unix(0, closed.Int64).UTC()
	}
	if code.Valid {
		s.CloseCode = int(code.Int64)
	}
	s.ClosedBy = session.ClosedBy(closedBy.String)
	s.Labels = map[string]string{}
	if err := json.Unmarshal([]byte(labels), &s.Labels); err != nil {
		return session.Record{}, fmt.Errorf("session %q: labels: %w", s.ID, err)
	}
	if s.BlackBox, err = decodeBlackBox(box); err != nil {
		return session.Record{}, fmt.Errorf("session %q: black box: %w", s.ID, err)
	}
	return s, nil
}

func clampLimit(n int) (int, error) {
	switch {
	case n < 0:
		return 0, fmt.Errorf("%w: limit %d is negative", session.ErrInvalidFilter, n)
	case n == 0:
		return session.DefaultLimit, nil
	case n > session.MaxLimit:
		return session.MaxLimit, nil
	}
	return n, nil
}

// The cursor is opaque to clients: base64url of "<connected_at ns>:<id>".
func encodeCursor(at int64, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at, 10) + ":" + id))
}

func decodeCursor(c string) (int64, string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, "", fmt.Errorf("%w: cursor: %w", session.ErrInvalidFilter, err)
	}
	ns, id, ok := strings.Cut(string(raw), ":")
	if !ok {
		return 0, "", fmt.Errorf("%w: cursor: missing separator", session.ErrInvalidFilter)
	}
	at, err := strconv.ParseInt(ns, 10, 64)
	if err != nil {
		return 0, "", fmt.Errorf("%w: cursor: %w", session.ErrInvalidFilter, err)
	}
	return at, id, nil
}

func closeRows(rows *sql.Rows, err error) error {
	return errors.Join(err, rows.Close())
}
