package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// oneBatch configures a store so that the writer commits exactly n records
// per transaction: it waits (up to a minute) for the batch to fill.
func oneBatch(n int) func(*Config) {
	return func(c *Config) {
		c.BatchSize = n
		c.FlushInterval = time.Minute
		c.HeartbeatInterval = time.Hour
	}
}

// rejectIDs makes the database itself refuse, as a constraint would, any
// new session row whose id starts with prefix.
func rejectIDs(t *testing.T, s *Store, prefix string) {
	t.Helper()
	_, err := rawDB(t, s.cfg.Path).Exec(fmt.Sprintf(`CREATE TRIGGER reject_%[1]s BEFORE INSERT ON sessions
		WHEN NEW.id LIKE '%[1]s%%' BEGIN SELECT RAISE(ABORT, 'rejected by the test'); END`, prefix))
	if err != nil {
		t.Fatal(err)
	}
}

// TestRejectedRecordsAreIsolated: a batch holding records the database
// refuses fails as a whole; the writer then writes its records one by one,
// drops and counts the refused ones and keeps all the others.
func TestRejectedRecordsAreIsolated(t *testing.T) {
	var (
		mu      sync.Mutex
		commits []CommitInfo
	)
	s := testStore(t, func(c *Config) {
		oneBatch(7)(c)
		c.OnCommit = func(ci CommitInfo) { mu.Lock(); commits = append(commits, ci); mu.Unlock() }
	})
	rejectIDs(t, s, "bad")
	ctx := context.Background()
	for _, id := range []string{"good-1", "bad-1", "good-2"} {
		s.RecordOpen(SessionOpen{ID: id, Route: "/" + id, ConnectedAt: at(0)})
		s.RecordClose(SessionClose{ID: id, ClosedAt: at(time.Second), CloseCode: 1000, ClosedBy: ClosedByClient, MessagesIn: 3})
	}
	s.RecordAudit(AuditEntry{At: at(0), Subject: "ops", Action: "test"})
	flush(t, s)

	h := s.Health()
	if h.Written != 5 || h.Dropped != 2 || s.drops.rejected.Load() != 2 || h.Degraded || h.Queued != 0 {
		t.Fatalf("Health = %+v (rejected %d), want 5 written and the 2 records of bad-1 rejected", h, s.drops.rejected.Load())
	}
	for _, id := range []string{"good-1", "good-2"} {
		got, err := s.GetSession(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Route != "/"+id || !got.ConnectedAt.Equal(at(0)) || !got.ClosedAt.Equal(at(time.Second)) ||
			got.CloseCode != 1000 || got.ClosedBy != ClosedByClient || got.MessagesIn != 3 {
			t.Errorf("%s = %+v", id, got)
		}
	}
	if _, err := s.GetSession(ctx, "bad-1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetSession(bad-1) = %v, want ErrNotFound", err)
	}
	if audit, err := s.ListAudit(ctx, AuditFilter{}); err != nil || len(audit) != 1 {
		t.Errorf("ListAudit = %+v, %v; want the one entry", audit, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(commits) != 0 {
		t.Errorf("OnCommit called for %+v; the batch never committed as a batch", commits)
	}
}

// TestFailedBatchIsRetriedWhole: after a transient failure (the database
// cannot grow) the writer keeps every record of the batch and, once space
// is back, commits all of them: counters and OnCommit count records, and
// every row is complete.
func TestFailedBatchIsRetriedWhole(t *testing.T) {
	const sessions = 4
	var (
		mu      sync.Mutex
		commits []CommitInfo
	)
	s := testStore(t, func(c *Config) {
		oneBatch(2*sessions + 1)(c)
		c.OnCommit = func(ci CommitInfo) { mu.Lock(); commits = append(commits, ci); mu.Unlock() }
	})
	ctx := context.Background()
	setMaxPages := func(n int64) {
		t.Helper()
		// The writer pool has one connection, so this reaches the writer's.
		if _, err := s.wdb.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", n)); err != nil {
			t.Fatal(err)
		}
	}
	var pages int64
	if err := s.wdb.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	setMaxPages(pages)

	pad := strings.Repeat("x", 3000) // every row needs a page of its own
	for i := range sessions {
		id := fmt.Sprint("s", i)
		s.RecordOpen(SessionOpen{ID: id, Labels: map[string]string{"pad": pad}, ConnectedAt: at(0)})
		s.RecordClose(SessionClose{ID: id, ClosedAt: at(time.Second), CloseCode: 1001, ClosedBy: ClosedByServer, BytesOut: int64(i)})
	}
	s.RecordAudit(AuditEntry{At: at(0), Subject: "ops", Action: "test"})
	if err := s.Flush(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Flush with the database capped = %v, want ErrUnavailable", err)
	}
	if h := s.Health(); !h.Degraded || h.Queued != 2*sessions+1 || h.Written != 0 || h.Dropped != 0 {
		t.Fatalf("Health while failing = %+v, want all %d records held", h, 2*sessions+1)
	}

	setMaxPages(1 << 30)
	flush(t, s)
	if h := s.Health(); h.Degraded || h.Queued != 0 || h.Written != 2*sessions+1 || h.Dropped != 0 {
		t.Fatalf("Health after recovery = %+v, want all %d records written", h, 2*sessions+1)
	}
	for i := range sessions {
		got, err := s.GetSession(ctx, fmt.Sprint("s", i))
		if err != nil {
			t.Fatal(err)
		}
		if got.Labels["pad"] != pad || !got.ConnectedAt.Equal(at(0)) || !got.ClosedAt.Equal(at(time.Second)) ||
			got.CloseCode != 1001 || got.ClosedBy != ClosedByServer || got.BytesOut != int64(i) {
			t.Errorf("s%d = %+v", i, got)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(commits) != 1 || commits[0].Records != 2*sessions+1 {
		t.Fatalf("OnCommit got %+v, want one commit of %d records", commits, 2*sessions+1)
	}
}
