package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/session"
)

func TestRetention(t *testing.T) {
	ctx := context.Background()
	s := testStore(t, func(c *Config) { c.Retention = time.Hour })
	now := time.Now()
	old, recent := now.Add(-2*time.Hour), now.Add(-time.Minute)
	const oldClosed, oldAudit = 1234, 700
	for i := range oldClosed {
		id := fmt.Sprint("old", i)
		s.RecordOpen(session.Open{ID: id, ConnectedAt: old.Add(-time.Minute)})
		s.RecordClose(session.Close{ID: id, ClosedAt: old, ClosedBy: session.ClosedByClient})
	}
	s.RecordOpen(session.Open{ID: "old-but-open", ConnectedAt: old})
	s.RecordOpen(session.Open{ID: "recent", ConnectedAt: recent})
	s.RecordClose(session.Close{ID: "recent", ClosedAt: recent, ClosedBy: session.ClosedByClient})
	for i := range oldAudit {
		s.RecordAudit(session.AuditEntry{At: old, Action: fmt.Sprint("a", i)})
	}
	s.RecordAudit(session.AuditEntry{At: recent, Action: "recent"})
	flush(t, s)

	passes := 0
	for more := true; more; passes++ {
		var err error
		if more, err = s.pruneOnce(ctx, now.Add(-s.cfg.Retention)); err != nil {
			t.Fatal(err)
		}
	}
	if want := oldClosed/pruneChunk + 1; passes != want {
		t.Errorf("%d passes, want %d (chunks of %d)", passes, want, pruneChunk)
	}
	count := func(q string) int {
		var n int
		if err := s.rdb.QueryRow(q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count("SELECT count(*) FROM sessions"); n != 2 {
		t.Errorf("%d sessions left, want the recent one and the open one", n)
	}
	for _, id := range []string{"old-but-open", "recent"} {
		if _, err := s.GetSession(ctx, id); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	if n := count("SELECT count(*) FROM audit"); n != 1 {
		t.Errorf("%d audit rows left, want 1", n)
	}
}

// TestRetentionRunsInBackground: the writer prunes at Open without being
// asked. Timer-driven, so the test polls with a deadline.
func TestRetentionRunsInBackground(t *testing.T) {
	s := testStore(t, nil)
	path := s.cfg.Path
	for i := range 600 {
		id := fmt.Sprint("old", i)
		s.RecordOpen(session.Open{ID: id, ConnectedAt: at(0)})
		s.RecordClose(session.Close{ID: id, ClosedAt: at(time.Second)})
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := testStore(t, func(c *Config) { c.Path = path; c.Retention = time.Hour })
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := s2.rdb.QueryRow("SELECT count(*) FROM sessions").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d expired sessions still there", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
