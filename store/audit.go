package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/wsd-dev/wsd/session"
)

// RecordAudit queues an audit entry. It never blocks (see RecordOpen).
// Parameters that are not valid JSON are stored as a JSON string.
func (s *Store) RecordAudit(a session.AuditEntry) {
	if a.At.IsZero() {
		a.At = time.Now()
	}
	params := "{}"
	switch {
	case len(a.Parameters) == 0:
	case json.Valid(a.Parameters):
		params = string(a.Parameters)
	default:
		b, err := json.Marshal(string(a.Parameters))
		if err != nil {
			s.drops.invalid.Add(1)
			return
		}
		params = string(b)
	}
	s.enqueue(&auditRecord{entry: a, params: params, queued: time.Now()})
}

type auditRecord struct {
	entry  session.AuditEntry
	params string
	queued time.Time
}

func (r *auditRecord) queuedAt() time.Time { return r.queued }
func (r *auditRecord) describe() string {
	return "audit " + r.entry.Action + " by " + r.entry.Subject
}

func (r *auditRecord) apply(ctx context.Context, b *batch) error {
	a := &r.entry
	_, err := b.audit.ExecContext(ctx, a.At.UnixNano(), a.Subject, a.Action, a.Target,
		r.params, a.Matched, a.Affected, a.Result)
	return err
}

const sqlInsertAudit = `INSERT INTO audit
	(at, subject, action, target, parameters, matched, affected, result)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?)`

// ListAudit returns audit entries newest first. While the store is degraded
// it returns an error wrapping session.ErrUnavailable.
func (s *Store) ListAudit(ctx context.Context, f session.AuditFilter) ([]session.AuditEntry, error) {
	limit, err := clampLimit(f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	if err := s.readable(); err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	var (
		where []string
		args  []any
	)
	if !f.Since.IsZero() {
		where = append(where, "at >= ?")
		args = append(args, f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		where = append(where, "at < ?")
		args = append(args, f.Until.UnixNano())
	}
	if f.BeforeID > 0 {
		where = append(where, "id < ?")
		args = append(args, f.BeforeID)
	}
	q := "SELECT id, at, subject, action, target, parameters, matched, affected, result FROM audit"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, limit)

	ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	entries := []session.AuditEntry{}
	for rows.Next() {
		var (
			a      session.AuditEntry
			at     int64
			params string
		)
		if err := rows.Scan(&a.ID, &at, &a.Subject, &a.Action, &a.Target, &params,
			&a.Matched, &a.Affected, &a.Result); err != nil {
			return nil, closeRows(rows, fmt.Errorf("list audit: %w", err))
		}
		a.At = time.Unix(0, at).UTC()
		a.Parameters = json.RawMessage(params)
		entries = append(entries, a)
	}
	if err := closeRows(rows, rows.Err()); err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return entries, nil
}
