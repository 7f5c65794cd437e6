package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/wsd-dev/wsd/session"
)

const crashError = "wsd stopped without closing the session; closed at its last heartbeat"

// recoverCrashed closes every session a previous run left open: a clean
// shutdown closes all sessions first, so an open row means that run died
// (kill -9, OOM, power loss). The row gets closed_by=crash, code 1006 and
// closed_at = the last heartbeat (never before the session connected). The
// same transaction writes a fresh heartbeat.
func (s *Store) recoverCrashed(ctx context.Context, now time.Time) (err error) {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("crash recovery: %w", err)
	}
	defer func() { err = rollbackUnlessDone(tx, err) }()

	var last sql.NullInt64
	err = tx.QueryRowContext(ctx, "SELECT at FROM heartbeat WHERE id = 1").Scan(&last)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("crash recovery: read heartbeat: %w", err)
	}
	res, err := tx.ExecContext(ctx, `UPDATE sessions SET
		closed_at = max(coalesce(?1, connected_at), connected_at),
		close_code = ?2, closed_by = ?3, error = ?4
		WHERE closed_at IS NULL`,
		last, CrashCloseCode, string(session.ClosedByCrash), crashError)
	if err != nil {
		return fmt.Errorf("crash recovery: close sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("crash recovery: %w", err)
	}
	if _, err := tx.ExecContext(ctx, sqlHeartbeat, s.cfg.Node, now.UnixNano()); err != nil {
		return fmt.Errorf("crash recovery: heartbeat: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("crash recovery: commit: %w", err)
	}
	if n > 0 {
		at := "unknown"
		if last.Valid {
			at = time.Unix(0, last.Int64).UTC().Format(time.RFC3339Nano)
		}
		s.log.Warn("store: closed sessions left open by a crash",
			"sessions", n, "last_heartbeat", at)
	}
	return nil
}

const sqlHeartbeat = `INSERT INTO heartbeat (id, node, at) VALUES (1, ?, ?)
	ON CONFLICT (id) DO UPDATE SET node = excluded.node, at = excluded.at`

// rollbackUnlessDone rolls tx back if err is set and joins any rollback
// failure to err. SQLite rolls back by itself after some errors (disk full,
// I/O error); the ROLLBACK that then finds no transaction is not a failure.
func rollbackUnlessDone(tx *sql.Tx, err error) error {
	if err == nil {
		return nil
	}
	rerr := tx.Rollback()
	if rerr == nil || errors.Is(rerr, sql.ErrTxDone) || noTransaction(rerr) {
		return err
	}
	return errors.Join(err, fmt.Errorf("rollback: %w", rerr))
}
