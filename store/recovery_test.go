package store

import (
	"context"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/session"
)

func TestCrashRecovery(t *testing.T) {
	ctx := context.Background()
	s := testStore(t, nil)
	path := s.cfg.Path
	heartbeat := at(time.Hour)
	s.RecordOpen(session.Open{ID: "open-before-beat", ConnectedAt: at(0)})
	s.RecordOpen(session.Open{ID: "open-after-beat", ConnectedAt: at(2 * time.Hour)})
	s.RecordOpen(session.Open{ID: "closed", ConnectedAt: at(0)})
	s.RecordClose(session.Close{ID: "closed", ClosedAt: at(time.Minute), CloseCode: 1000, ClosedBy: session.ClosedByClient})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Make it look like the daemon died: its last heartbeat was at
	// `heartbeat`, and two sessions were still open.
	db := rawDB(t, path)
	if _, err := db.Exec("UPDATE heartbeat SET at = ?", heartbeat.UnixNano()); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	s2 := testStore(t, func(c *Config) { c.Path = path })
	for _, tc := range []struct {
		id       string
		closedAt time.Time
		code     int
		by       session.ClosedBy
	}{
		{"open-before-beat", heartbeat, CrashCloseCode, session.ClosedByCrash},
		{"open-after-beat", at(2 * time.Hour), CrashCloseCode, session.ClosedByCrash}, // never before it connected
		{"closed", at(time.Minute), 1000, session.ClosedByClient},
	} {
		got, err := s2.GetSession(ctx, tc.id)
		if err != nil {
			t.Fatal(err)
		}
		if !got.ClosedAt.Equal(tc.closedAt) || got.CloseCode != tc.code || got.ClosedBy != tc.by {
			t.Errorf("%s: closed %v code %d by %q; want %v %d %q", tc.id, got.ClosedAt, got.CloseCode, got.ClosedBy, tc.closedAt, tc.code, tc.by)
		}
		if tc.by == session.ClosedByCrash && got.Error != crashError {
			t.Errorf("%s: error %q", tc.id, got.Error)
		}
	}
	var beat int64
	if err := db.QueryRow("SELECT at FROM heartbeat").Scan(&beat); err != nil {
		t.Fatal(err)
	}
	if time.Unix(0, beat).Before(start) {
		t.Fatalf("heartbeat %v not refreshed at Open (%v)", time.Unix(0, beat), start)
	}
	page, err := s2.ListSessions(ctx, session.Filter{ClosedBy: session.ClosedByCrash})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Sessions) != 2 {
		t.Fatalf("%d crash-closed sessions, want 2", len(page.Sessions))
	}
}

func TestCrashRecoveryWithoutHeartbeat(t *testing.T) {
	ctx := context.Background()
	s := testStore(t, nil)
	path := s.cfg.Path
	s.RecordOpen(session.Open{ID: "x", ConnectedAt: at(0)})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := rawDB(t, path).Exec("DELETE FROM heartbeat"); err != nil {
		t.Fatal(err)
	}
	s2 := testStore(t, func(c *Config) { c.Path = path })
	got, err := s2.GetSession(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if !got.ClosedAt.Equal(at(0)) || got.ClosedBy != session.ClosedByCrash {
		t.Fatalf("got %+v, want closed at its connected_at by crash", got)
	}
}

// TestHeartbeatAdvances: while running, the writer keeps the heartbeat
// fresh even with nothing to write. This is timer-driven, so the test polls
// with a deadline.
func TestHeartbeatAdvances(t *testing.T) {
	s := testStore(t, func(c *Config) { c.HeartbeatInterval = 10 * time.Millisecond })
	read := func() time.Time {
		var ns int64
		if err := s.rdb.QueryRow("SELECT at FROM heartbeat").Scan(&ns); err != nil {
			t.Fatal(err)
		}
		return time.Unix(0, ns)
	}
	first := read()
	deadline := time.Now().Add(10 * time.Second)
	for !read().After(first) {
		if time.Now().After(deadline) {
			t.Fatal("heartbeat did not advance")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
