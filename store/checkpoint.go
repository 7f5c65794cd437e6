package store

import (
	"context"
	"database/sql"
	"sync/atomic"
	"time"
)

const (
	// checkpointGap is the least time between background checkpoints; it
	// also bounds how long a commit waits for its WAL fsync.
	checkpointGap = 100 * time.Millisecond
	// longWAL is the WAL length, in frames (pages), past which the writer is
	// asked to finish a checkpoint so the WAL can restart (16 MiB of 4 KiB
	// pages).
	longWAL = 4096
)

// checkpointer copies committed WAL frames into the database file from its
// own connection and goroutine, woken by the writer after each commit and
// at most every checkpointGap, so the writer never waits on that I/O or its
// fsyncs (SQLite's auto-checkpoint would run inside the writer's commit; it
// is turned off). With synchronous=NORMAL the WAL is fsynced at the start of
// each checkpoint, which is what makes commits survive power loss.
type checkpointer struct {
	s    *Store
	db   *sql.DB       // one read-write connection; runs only PRAGMA wal_checkpoint
	kick chan struct{} // capacity 1; the writer's non-blocking "something committed"
	long atomic.Bool   // set when the WAL is longer than longWAL frames

	lastErrLog time.Time
}

func newCheckpointer(s *Store, db *sql.DB) *checkpointer {
	return &checkpointer{s: s, db: db, kick: make(chan struct{}, 1)}
}

// run is the checkpointer goroutine; it returns when stop is closed.
func (c *checkpointer) run(ctx context.Context, stop <-chan struct{}) {
	gap := time.NewTimer(0)
	defer gap.Stop()
	for {
		select {
		case <-c.kick:
		case <-stop:
			return
		}
		c.checkpoint(ctx)
		gap.Reset(checkpointGap)
		select {
		case <-gap.C:
		case <-stop:
			return
		}
	}
}

func (c *checkpointer) checkpoint(ctx context.Context) {
	var busy, frames, copied int64
	err := c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied)
	if err != nil {
		// Writes still land in the WAL; the next commit tries again.
		if now := time.Now(); now.Sub(c.lastErrLog) >= reportEvery {
			c.lastErrLog = now
			c.s.log.Warn("store: background checkpoint failed", "err", err)
		}
		return
	}
	if frames >= longWAL {
		c.long.Store(true)
	}
}
