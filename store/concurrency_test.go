package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/session"
)

// TestConcurrentWritersAndReaders runs 64 goroutines at once, 32 recording
// sessions and audit entries (flushing now and then) and 32 querying the
// read pool (more readers than pooled connections, so they also queue), plus
// a separate connection reading like an external sqlite3 CLI, and requires
// that nobody ever sees "database is locked" or any other error, and that
// every record lands.
func TestConcurrentWritersAndReaders(t *testing.T) {
	const (
		writers    = 32
		readers    = 32
		perWriter  = 100 // sessions per writer
		perReader  = 40  // queries per reader
		flushEvery = 25
	)
	per, reads := perWriter, perReader
	if testing.Short() {
		per, reads = 30, 10
	}
	s := testStore(t, func(c *Config) { c.QueueSize = 1 << 16; c.ReadConns = 8 })
	ctx := context.Background()

	var (
		errMu   sync.Mutex
		errs    []error
		writing atomic.Int32
	)
	report := func(err error) {
		errMu.Lock()
		errs = append(errs, err)
		errMu.Unlock()
	}
	writing.Store(writers)

	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			defer writing.Add(-1)
			for i := range per {
				id := fmt.Sprintf("w%02d-%04d", w, i)
				s.RecordOpen(session.Open{ID: id, Route: fmt.Sprint("/r", w%4), User: fmt.Sprint("u", w), ConnectedAt: time.Now()})
				s.RecordClose(session.Close{ID: id, CloseCode: 1000, ClosedBy: session.ClosedByClient})
				if i%10 == 0 {
					s.RecordAudit(session.AuditEntry{Subject: id, Action: "connections.close", Target: id})
				}
				if i%flushEvery == 0 {
					if err := s.Flush(ctx); err != nil {
						report(fmt.Errorf("writer %d flush: %w", w, err))
						return
					}
				}
			}
		})
	}
	for r := range readers {
		wg.Go(func() {
			for n := range reads {
				var err error
				switch n % 4 {
				case 0:
					_, err = s.ListSessions(ctx, session.Filter{Limit: 50})
				case 1:
					_, err = s.ListSessions(ctx, session.Filter{User: fmt.Sprint("u", r), Route: fmt.Sprint("/r", r%4)})
				case 2:
					_, err = s.GetSession(ctx, fmt.Sprintf("w%02d-%04d", r, n%per))
					if errors.Is(err, session.ErrNotFound) {
						err = nil // not written yet
					}
				case 3:
					_, err = s.ListAudit(ctx, session.AuditFilter{Limit: 20})
				}
				if err != nil {
					report(fmt.Errorf("reader %d: %w", r, err))
					return
				}
			}
		})
	}
	// An outside reader holding short read transactions on its own
	// connection, as an operator's sqlite3 shell would.
	external := rawDB(t, s.cfg.Path)
	wg.Go(func() {
		for writing.Load() > 0 {
			var n int
			if err := external.QueryRowContext(ctx, "SELECT count(*) FROM sessions").Scan(&n); err != nil {
				report(fmt.Errorf("external reader: %w", err))
				return
			}
		}
	})
	wg.Wait()
	flush(t, s)

	for _, err := range errs {
		msg := err.Error()
		if strings.Contains(msg, "locked") || strings.Contains(msg, "busy") {
			t.Errorf("lock contention surfaced: %v", err)
		} else {
			t.Error(err)
		}
	}
	h := s.Health()
	wantRecords := uint64(writers * (2*per + (per+9)/10))
	if h.Written != wantRecords || h.Dropped != 0 {
		t.Fatalf("Written %d Dropped %d, want %d and 0", h.Written, h.Dropped, wantRecords)
	}
	var sessions, closed int
	if err := s.rdb.QueryRow("SELECT count(*), count(closed_at) FROM sessions").Scan(&sessions, &closed); err != nil {
		t.Fatal(err)
	}
	if sessions != writers*per || closed != sessions {
		t.Fatalf("%d sessions (%d closed), want %d all closed", sessions, closed, writers*per)
	}
	integrityOK(t, external)
	t.Logf("%d queries, %d records in %d commits", readers*reads, h.Written, h.Commits)
}
