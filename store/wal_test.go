package store

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/session"
)

// TestWALShrinksAfterPin: a reader that holds a snapshot keeps checkpoints
// from resetting the WAL, which grows; once the reader lets go the file
// returns to walSizeLimit instead of keeping its peak size until shutdown
// (issue 19 #8).
func TestWALShrinksAfterPin(t *testing.T) {
	s := testStore(t, nil)
	ctx := context.Background()
	pad := map[string]string{}
	for i := range MaxLabels - 1 {
		pad[fmt.Sprintf("pad%02d", i)] = strings.Repeat("x", MaxLabelValueBytes)
	}
	write := func(from, n int) {
		for i := from; i < from+n; i++ {
			s.RecordOpen(session.Open{ID: fmt.Sprintf("s%06d", i), Labels: pad, ConnectedAt: at(0)})
		}
		flush(t, s)
	}
	write(0, 10)

	// An external reader pins the log: a read transaction keeps its
	// snapshot until it ends.
	db := rawDB(t, s.cfg.Path)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM sessions").Scan(&n); err != nil {
		t.Fatal(err)
	}
	for i := 0; walSize(t, s) < 2*walSizeLimit; i += 500 {
		if i > 100_000 {
			t.Fatalf("the WAL stayed at %d bytes while pinned", walSize(t, s))
		}
		write(10+i, 500)
	}
	peak := walSize(t, s)
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}

	deadline := time.Now().Add(20 * time.Second)
	for i := 0; walSize(t, s) > walSizeLimit; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("the WAL is still %d bytes (peak %d), want at most %d once unpinned", walSize(t, s), peak, walSizeLimit)
		}
		write(1_000_000+i*10, 10) // the log restarts (and is cut) on a write
	}
	t.Logf("WAL peak %d bytes, after the pin %d", peak, walSize(t, s))
}

func walSize(t *testing.T, s *Store) int64 {
	t.Helper()
	fi, err := os.Stat(s.cfg.Path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
