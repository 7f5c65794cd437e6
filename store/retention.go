package store

import (
	"context"
	"fmt"
	"time"
)

const (
	// pruneChunk is the most rows of each table one retention transaction
	// deletes, so pruning never holds the writer for long.
	pruneChunk = 500
	// pruneEvery is how often the writer looks for expired rows when the
	// previous pass found fewer than a chunk.
	pruneEvery = time.Minute
)

// pruneOnce deletes up to pruneChunk closed sessions and pruneChunk audit
// rows older than cutoff, in one transaction, and reports whether a full
// chunk was deleted (so more may remain). Open sessions are never pruned.
func (s *Store) pruneOnce(ctx context.Context, cutoff time.Time) (more bool, err error) {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("retention: %w", err)
	}
	defer func() { err = rollbackUnlessDone(tx, err) }()
	c := cutoff.UnixNano()
	res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE rowid IN
		(SELECT rowid FROM sessions WHERE closed_at < ? LIMIT ?)`, c, pruneChunk)
	if err != nil {
		return false, fmt.Errorf("retention: sessions: %w", err)
	}
	ns, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("retention: sessions: %w", err)
	}
	res, err = tx.ExecContext(ctx, `DELETE FROM audit WHERE id IN
		(SELECT id FROM audit WHERE at < ? LIMIT ?)`, c, pruneChunk)
	if err != nil {
		return false, fmt.Errorf("retention: audit: %w", err)
	}
	na, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("retention: audit: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("retention: commit: %w", err)
	}
	if ns > 0 || na > 0 {
		s.log.Debug("store: pruned history", "sessions", ns, "audit", na,
			"older_than", cutoff.UTC().Format(time.RFC3339))
	}
	return ns == pruneChunk || na == pruneChunk, nil
}
