package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/session"
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
		s.RecordOpen(session.Open{ID: id, Route: "/" + id, ConnectedAt: at(0)})
		s.RecordClose(session.Close{ID: id, ClosedAt: at(time.Second), CloseCode: 1000, ClosedBy: session.ClosedByClient, MessagesIn: 3})
	}
	s.RecordAudit(session.AuditEntry{At: at(0), Subject: "ops", Action: "test"})
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
			got.CloseCode != 1000 || got.ClosedBy != session.ClosedByClient || got.MessagesIn != 3 {
			t.Errorf("%s = %+v", id, got)
		}
	}
	if _, err := s.GetSession(ctx, "bad-1"); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("GetSession(bad-1) = %v, want session.ErrNotFound", err)
	}
	if audit, err := s.ListAudit(ctx, session.AuditFilter{}); err != nil || len(audit) != 1 {
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

	// Every row needs a page of its own: labels and headers near their caps.
	pad := map[string]string{}
	for i := range MaxLabels - 1 {
		pad[fmt.Sprintf("pad%02d", i)] = strings.Repeat("x", MaxLabelValueBytes)
	}
	agent := strings.Repeat("a", MaxUserAgentBytes)
	for i := range sessions {
		id := fmt.Sprint("s", i)
		s.RecordOpen(session.Open{ID: id, Labels: pad, UserAgent: agent, Origin: agent, ConnectedAt: at(0)})
		s.RecordClose(session.Close{ID: id, ClosedAt: at(time.Second), CloseCode: 1001, ClosedBy: session.ClosedByServer, BytesOut: int64(i)})
	}
	s.RecordAudit(session.AuditEntry{At: at(0), Subject: "ops", Action: "test"})
	if err := s.Flush(ctx); !errors.Is(err, session.ErrUnavailable) {
		t.Fatalf("Flush with the database capped = %v, want session.ErrUnavailable", err)
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
		if !maps.Equal(got.Labels, pad) || got.UserAgent != agent || !got.ConnectedAt.Equal(at(0)) || !got.ClosedAt.Equal(at(time.Second)) ||
			got.CloseCode != 1001 || got.ClosedBy != session.ClosedByServer || got.BytesOut != int64(i) {
			t.Errorf("s%d = %+v", i, got)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(commits) != 1 || commits[0].Records != 2*sessions+1 {
		t.Fatalf("OnCommit got %+v, want one commit of %d records", commits, 2*sessions+1)
	}
}

// TestOpenCloseMerged runs the same records through the writer twice: in the
// batches each case gives, where an open and its later close in one batch
// are written together with one statement, and one record per batch, which
// writes every record with its own statement. Every column of every row of
// both tables must come out the same, and the batched run must have used
// one statement per merged pair.
func TestOpenCloseMerged(t *testing.T) {
	full := session.Open{
		ID: "s-full", Route: "/v1/chat", RemoteAddr: "192.0.2.1:5000", User: "alice",
		Labels: map[string]string{"room": "lobby", "tier": "gold"}, Origin: "https://example.com",
		UserAgent: "test/1", Subprotocol: "chat.v1", Extensions: "permessage-deflate", ConnectedAt: at(0),
		TraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
	}
	// other differs from full in every open column, as a replay from a
	// different source or a reused id would.
	other := session.Open{
		ID: full.ID, Route: "/v2/feed", RemoteAddr: "[2001:db8::1]:443", User: "bob",
		Labels: map[string]string{"room": "attic"}, Origin: "https://other.example",
		UserAgent: "test/2", Subprotocol: "feed.v2", Extensions: "x-ext", ConnectedAt: at(time.Hour),
		TraceID: "00f067aa0ba902b700f067aa0ba902b7",
	}
	sparse := session.Open{ID: full.ID, ConnectedAt: at(2 * time.Hour)} // empty strings, no labels
	closed := session.Close{
		ID: full.ID, ClosedAt: at(time.Minute), CloseCode: 4401, CloseReason: "token expired",
		ClosedBy: session.ClosedByTokenExpired, Error: "exp", MessagesIn: 1, MessagesOut: 2, BytesIn: 3, BytesOut: 4,
	}
	otherClose := session.Close{
		ID: full.ID, ClosedAt: at(3 * time.Hour), CloseCode: 1011, CloseReason: "oops",
		ClosedBy: session.ClosedByServer, Error: "boom", MessagesIn: 10, MessagesOut: 20, BytesIn: 30, BytesOut: 40,
		BlackBox: []session.Frame{{At: at(3 * time.Hour), In: true, Opcode: 1, Fin: true, RSV: 4, Len: 70000}},
	}
	noCode := session.Close{ID: full.ID, ClosedAt: at(4 * time.Hour)} // NULL close_code, closed_by ''

	o := func(so session.Open) record { return testOpenRecord(t, so) }
	c := func(sc session.Close) record {
		return &closeRecord{Close: sc, box: encodeBlackBox(sc.BlackBox), queued: time.Now()}
	}
	as := func(id string, r record) record { // the same record for another session
		switch r := r.(type) {
		case *openRecord:
			cp := *r
			cp.ID = id
			return &cp
		case *closeRecord:
			cp := *r
			cp.ID = id
			return &cp
		}
		panic("as: not a session record")
	}
	audit := func(action string) record {
		return &auditRecord{entry: session.AuditEntry{At: at(0), Subject: "ops", Action: action}, params: "{}", queued: time.Now()}
	}

	tests := []struct {
		name    string
		setup   string // SQL run on both databases first
		batches [][]record
		merged  int // pairs written with one statement
	}{
		{"open and close", "", [][]record{{o(full), c(closed)}}, 1},
		{"no labels, empty strings, no close code", "", [][]record{{o(sparse), c(noCode)}}, 1},
		{"close before open", "", [][]record{{c(closed), o(full)}}, 0},
		{"open, then close in the next batch", "", [][]record{{o(full)}, {c(closed)}}, 0},
		{"open replayed, then close", "", [][]record{{o(full), o(full), c(closed)}}, 1},
		{"open, another open, then close", "", [][]record{{o(other), o(full), c(closed)}}, 1},
		{"open in one batch, replayed with its close in the next", "", [][]record{{o(other)}, {o(full), c(closed)}}, 1},
		{"pair replayed", "", [][]record{{o(full), c(closed)}, {o(full), c(closed)}}, 2},
		{"pair over a row with other values", "", [][]record{{o(other), c(otherClose)}, {o(full), c(closed)}}, 2},
		{"pair without close code over a closed row", "", [][]record{{o(full), c(closed)}, {o(sparse), c(noCode)}}, 2},
		{"pair over a row made by a close alone", "", [][]record{{c(otherClose)}, {o(full), c(closed)}}, 1},
		{"close, then pair, in one batch", "", [][]record{{c(otherClose), o(full), c(closed)}}, 1},
		{"close replayed after the pair", "", [][]record{{o(full), c(closed), c(otherClose)}}, 1},
		{"open again after the pair", "", [][]record{{o(full), c(closed), o(other)}}, 1},
		{"two pairs of one session in one batch", "", [][]record{{o(other), c(otherClose), o(full), c(closed)}}, 2},
		{
			"pair over a row another node wrote",
			`INSERT INTO sessions (id, route, connected_at, closed_at, close_code, closed_by, node)
				VALUES ('s-full', '/old', 1, 2, 1000, 'client', 'other-node')`,
			[][]record{{o(full), c(closed)}}, 1,
		},
		{
			"sessions interleaved with audit records",
			"",
			[][]record{
				{o(full), as("s-b", o(other)), audit("first"), as("s-c", c(noCode)), as("s-b", c(otherClose)),
					as("s-d", o(sparse)), c(closed), audit("second"), as("s-d", c(noCode)), as("s-c", o(sparse))},
				{as("s-e", o(full)), as("s-d", o(other)), as("s-e", c(closed))},
			},
			4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			batched, single := testStore(t, oneBatch(1)), testStore(t, oneBatch(1))
			var records int64
			for _, s := range []*Store{batched, single} {
				if tt.setup == "" {
					continue
				}
				if _, err := s.wdb.ExecContext(ctx, tt.setup); err != nil {
					t.Fatal(err)
				}
			}
			wb, ws := testWriter(t, batched), testWriter(t, single)
			changes0 := totalChanges(t, batched)
			merged := 0
			for _, recs := range tt.batches {
				for _, m := range wb.pairs.find(recs) {
					if m >= 0 {
						merged++
					}
				}
				if err := wb.apply(ctx, recs, time.Now()); err != nil {
					t.Fatal(err)
				}
				for _, r := range recs {
					if err := ws.apply(ctx, []record{r}, time.Now()); err != nil {
						t.Fatal(err)
					}
				}
				records += int64(len(recs))
			}
			if merged /= 2; merged != tt.merged {
				t.Errorf("%d pairs merged, want %d", merged, tt.merged)
			}
			// Every statement here changes exactly one row.
			statements := totalChanges(t, batched) - changes0
			if want := records - int64(tt.merged); statements != want {
				t.Errorf("%d statements for %d records, want %d", statements, records, want)
			}
			for _, table := range []string{"sessions", "audit"} {
				got, want := dumpTable(t, batched, table), dumpTable(t, single, table)
				if len(got) != len(want) {
					t.Fatalf("%s: %d rows batched, %d one by one:\n%v\n%v", table, len(got), len(want), got, want)
				}
				for i := range got {
					if !reflect.DeepEqual(got[i], want[i]) {
						t.Errorf("%s row %d:\nbatched    %v\none by one %v", table, i, got[i], want[i])
					}
				}
			}
		})
	}
}

func testOpenRecord(t testing.TB, o session.Open) *openRecord {
	t.Helper()
	labels, err := encodeLabels(o.Labels)
	if err != nil {
		t.Fatal(err)
	}
	return &openRecord{Open: o, labels: labels, queued: time.Now()}
}

// testWriter prepares a second writer on s, for calling apply directly:
// the store's own writer goroutine idles, and the one writer connection is
// shared in turn.
func testWriter(t testing.TB, s *Store) *writer {
	t.Helper()
	w, err := newWriter(s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := w.closeStmts(); err != nil {
			t.Error(err)
		}
	})
	return w
}

// totalChanges is the number of rows the writer connection has inserted,
// updated or deleted since it was opened.
func totalChanges(t testing.TB, s *Store) int64 {
	t.Helper()
	var n int64
	if err := s.wdb.QueryRow("SELECT total_changes()").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// dumpTable returns every row of table ordered by id, each column as the
// driver returns it, so NULL, an empty string and 0 stay distinct.
func dumpTable(t testing.TB, s *Store, table string) [][]any {
	t.Helper()
	rows, err := s.rdb.Query("SELECT * FROM " + table + " ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(closeRows(rows, err))
	}
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(closeRows(rows, err))
		}
		row := make([]any, 0, 2*len(cols))
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			row = append(row, cols[i], v)
		}
		out = append(out, row)
	}
	if err := closeRows(rows, rows.Err()); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFullBatchCommitsAtOnce: records reaching a batch's worth while the
// writer waits out its flush interval are committed at once, not after the
// interval, whether they arrive together or one at a time.
func TestFullBatchCommitsAtOnce(t *testing.T) {
	commits := make(chan CommitInfo, 8)
	s := testStore(t, func(c *Config) {
		oneBatch(4)(c)
		c.OnCommit = func(ci CommitInfo) { commits <- ci }
	})
	for round := range 3 {
		for i := range 4 {
			s.RecordOpen(session.Open{ID: fmt.Sprintf("s-%d-%d", round, i), ConnectedAt: at(0)})
			if round > 0 {
				// Let the writer take it and wait for the rest.
				time.Sleep(time.Duration(round) * time.Millisecond)
			}
		}
		select {
		case ci := <-commits:
			if ci.Records != 4 {
				t.Fatalf("round %d: committed %d records, want 4", round, ci.Records)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: a full batch waited for the flush interval (a minute)", round)
		}
	}
}
