package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/session"
)

// diskFullScenario drives a store into write failures with fill, checks the
// degraded behaviour, frees space with unfill and checks the recovery:
// every record is either written or counted as dropped, nothing is half
// written, and the file passes integrity_check.
func diskFullScenario(t *testing.T, s *Store, fill, unfill func()) {
	t.Helper()
	ctx := context.Background()
	labels := map[string]string{"pad": strings.Repeat("x", 2000)}
	recorded := 0
	record := func(n int) {
		for range n {
			id := fmt.Sprintf("s%06d", recorded)
			s.RecordOpen(session.Open{ID: id, Labels: labels})
			s.RecordClose(session.Close{ID: id, CloseCode: 1000, ClosedBy: session.ClosedByClient})
			recorded++
		}
	}
	record(20)
	flush(t, s)

	fill()
	var flushErr error
	for range 1000 {
		record(10)
		if flushErr = s.Flush(ctx); flushErr != nil {
			break
		}
	}
	if !errors.Is(flushErr, session.ErrUnavailable) || !strings.Contains(flushErr.Error(), "full") {
		t.Fatalf("Flush on a full disk = %v, want session.ErrUnavailable with \"full\"", flushErr)
	}
	h := s.Health()
	if !h.Degraded || !strings.Contains(h.LastError, "full") || h.LastErrorAt.IsZero() {
		t.Fatalf("Health while full = %+v", h)
	}
	if _, err := s.ListSessions(ctx, session.Filter{}); !errors.Is(err, session.ErrUnavailable) {
		t.Fatalf("ListSessions while degraded = %v, want session.ErrUnavailable", err)
	}
	if _, err := s.GetSession(ctx, "s000000"); !errors.Is(err, session.ErrUnavailable) {
		t.Fatalf("GetSession while degraded = %v, want session.ErrUnavailable", err)
	}
	if _, err := s.ListAudit(ctx, session.AuditFilter{}); !errors.Is(err, session.ErrUnavailable) {
		t.Fatalf("ListAudit while degraded = %v, want session.ErrUnavailable", err)
	}

	// Record past every bound: the queue fills and the excess is dropped,
	// counted, never blocking the caller.
	start := time.Now()
	record(s.cfg.QueueSize + s.cfg.BatchSize)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("recording while degraded took %v", d)
	}
	if h := s.Health(); h.Dropped == 0 || h.Queued == 0 {
		t.Fatalf("Health after overfilling = %+v, want drops and a queue", h)
	}

	unfill()
	flush(t, s) // an immediate retry, not a wait for the backoff
	h = s.Health()
	if h.Degraded || h.Queued != 0 {
		t.Fatalf("Health after recovery = %+v", h)
	}
	if want := uint64(2 * recorded); h.Written+h.Dropped != want {
		t.Fatalf("Written %d + Dropped %d != %d records", h.Written, h.Dropped, want)
	}
	var rows, closed int
	if err := s.rdb.QueryRow("SELECT count(*), count(closed_at) FROM sessions").Scan(&rows, &closed); err != nil {
		t.Fatal(err)
	}
	// Opens and closes are dropped independently, so a session may exist
	// with only one of them; every written record is in some row.
	if rows == 0 || rows > recorded || uint64(rows+closed) < h.Written/2 {
		t.Fatalf("%d rows (%d closed) for %d written records", rows, closed, h.Written)
	}
	if _, err := s.ListSessions(ctx, session.Filter{}); err != nil {
		t.Fatalf("ListSessions after recovery: %v", err)
	}
	var res string
	if err := s.rdb.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
		t.Fatalf("integrity_check = %q, %v", res, err)
	}
	t.Logf("recorded %d sessions: written %d records, dropped %d", recorded, h.Written, h.Dropped)
}

// TestDiskFullMaxPageCount caps the database size with PRAGMA
// max_page_count on the writer's connection, which makes SQLite fail with
// SQLITE_FULL exactly as a full disk does, then lifts the cap.
func TestDiskFullMaxPageCount(t *testing.T) {
	s := testStore(t, func(c *Config) { c.QueueSize = 64; c.BatchSize = 16 })
	ctx := context.Background()
	setMax := func(n int64) {
		// The writer pool has one connection, so this reaches the writer's.
		if _, err := s.wdb.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", n)); err != nil {
			t.Fatal(err)
		}
	}
	diskFullScenario(t, s,
		func() {
			var pages int64
			if err := s.wdb.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
				t.Fatal(err)
			}
			setMax(pages)
		},
		func() { setMax(1 << 30) },
	)
}

// TestCloseWhileFailing: Close on a full disk gives up after CloseTimeout,
// returns an error saying how many records were not written, and counts
// them as dropped.
func TestCloseWhileFailing(t *testing.T) {
	ctx := context.Background()
	cfg := Config{
		Path:         t.TempDir() + "/h.db",
		CloseTimeout: 300 * time.Millisecond,
		Logger:       slog.New(slog.NewTextHandler(t.Output(), nil)),
	}
	s, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var pages int64
	if err := s.wdb.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := s.wdb.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"pad": strings.Repeat("x", 4000)}
	for i := range 50 {
		s.RecordOpen(session.Open{ID: fmt.Sprint("s", i), Labels: labels})
	}
	start := time.Now()
	err = s.Close()
	if err == nil || !strings.Contains(err.Error(), "not written") {
		t.Fatalf("Close on a full disk = %v, want an error about unwritten records", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Close took %v with CloseTimeout %v", d, cfg.CloseTimeout)
	}
	if h := s.Health(); h.Dropped == 0 || h.Written+h.Dropped != 50 {
		t.Fatalf("Health after Close = %+v, want the 50 records written or dropped", h)
	}
}
