package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/session"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" means valid
	}{
		{"zero fields take defaults", Config{Path: "x.db"}, ""},
		{"path required", Config{}, "path is required"},
		{"negative queue", Config{Path: "x", QueueSize: -1}, "queue size -1"},
		{"negative batch", Config{Path: "x", BatchSize: -1}, "batch size -1"},
		{"negative retention", Config{Path: "x", Retention: -time.Hour}, "retention"},
		{"negative heartbeat", Config{Path: "x", HeartbeatInterval: -1}, "heartbeat interval"},
		{"negative flush interval means no wait", Config{Path: "x", FlushInterval: -1}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestOpenRejectsInvalidConfig(t *testing.T) {
	if _, err := Open(context.Background(), Config{}); err == nil {
		t.Fatal("Open with no path succeeded")
	}
}

func TestRoundTrip(t *testing.T) {
	s := testStore(t, nil)
	ctx := context.Background()
	open := session.Open{
		ID: "01J0000000000000000000000A", Route: "/chat", RemoteAddr: "192.0.2.1:5000",
		User: "alice", Labels: map[string]string{"room": "lobby", "tier": "gold"},
		Origin: "https://example.com", UserAgent: "test/1", Subprotocol: "chat.v1",
		Extensions: "permessage-deflate", ConnectedAt: at(0), TraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
	}
	box := []session.Frame{
		{At: at(time.Minute - time.Second), In: true, Opcode: 2, Fin: true, Len: 1 << 20},
		{At: at(time.Minute - time.Millisecond), Opcode: 9, Fin: true},
		{At: at(time.Minute), In: true, Opcode: 1, RSV: 4, Len: 17},
	}
	closing := session.Close{
		ID: open.ID, ClosedAt: at(time.Minute), CloseCode: 4401, CloseReason: "token expired",
		ClosedBy: session.ClosedByTokenExpired, Error: "exp", MessagesIn: 1, MessagesOut: 2, BytesIn: 3, BytesOut: 4,
		BlackBox: box,
	}
	s.RecordOpen(open)
	flush(t, s)

	got, err := s.GetSession(ctx, open.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := session.Record{
		ID: open.ID, Route: open.Route, RemoteAddr: open.RemoteAddr, User: open.User,
		Labels: open.Labels, Origin: open.Origin, UserAgent: open.UserAgent,
		Subprotocol: open.Subprotocol, Extensions: open.Extensions, ConnectedAt: open.ConnectedAt,
		Node: "test-node", TraceID: open.TraceID,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("open session:\n got %+v\nwant %+v", got, want)
	}
	if got.Closed() {
		t.Fatal("Closed() = true before the close")
	}

	s.RecordClose(closing)
	flush(t, s)
	got, err = s.GetSession(ctx, open.ID)
	if err != nil {
		t.Fatal(err)
	}
	want.ClosedAt, want.CloseCode, want.CloseReason, want.ClosedBy = closing.ClosedAt, 4401, "token expired", session.ClosedByTokenExpired
	want.Error, want.MessagesIn, want.MessagesOut, want.BytesIn, want.BytesOut = "exp", 1, 2, 3, 4
	want.BlackBox = box
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("closed session:\n got %+v\nwant %+v", got, want)
	}
	if !got.Closed() {
		t.Fatal("Closed() = false after the close")
	}

	if _, err := s.GetSession(ctx, "nope"); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("GetSession(nope) = %v, want session.ErrNotFound", err)
	}
	h := s.Health()
	if h.Written != 2 || h.Dropped != 0 || h.Queued != 0 || h.Degraded {
		t.Fatalf("Health = %+v", h)
	}
}

// TestCloseOrdering covers a close committed in the same batch as its open,
// a close committed before its open, and a close whose open never comes.
func TestCloseOrdering(t *testing.T) {
	s := testStore(t, nil)
	ctx := context.Background()

	s.RecordOpen(session.Open{ID: "same", Route: "/a", ConnectedAt: at(0)})
	s.RecordClose(session.Close{ID: "same", ClosedAt: at(time.Second), CloseCode: 1000, ClosedBy: session.ClosedByClient})
	s.RecordClose(session.Close{ID: "late-open", ClosedAt: at(3 * time.Second), CloseCode: 1001, ClosedBy: session.ClosedByServer})
	s.RecordClose(session.Close{ID: "orphan", ClosedAt: at(4 * time.Second), CloseCode: 1011, ClosedBy: session.ClosedByServer})
	flush(t, s)
	s.RecordOpen(session.Open{ID: "late-open", Route: "/b", User: "bob", ConnectedAt: at(2 * time.Second)})
	flush(t, s)

	for _, tc := range []struct {
		id                  string
		route               string
		connected, closedAt time.Time
		code                int
	}{
		{"same", "/a", at(0), at(time.Second), 1000},
		{"late-open", "/b", at(2 * time.Second), at(3 * time.Second), 1001},
		{"orphan", "", at(4 * time.Second), at(4 * time.Second), 1011},
	} {
		got, err := s.GetSession(ctx, tc.id)
		if err != nil {
			t.Fatalf("%s: %v", tc.id, err)
		}
		if got.Route != tc.route || !got.ConnectedAt.Equal(tc.connected) || !got.ClosedAt.Equal(tc.closedAt) || got.CloseCode != tc.code {
			t.Errorf("%s: got route %q connected %v closed %v code %d", tc.id, got.Route, got.ConnectedAt, got.ClosedAt, got.CloseCode)
		}
	}
}

func TestAudit(t *testing.T) {
	s := testStore(t, nil)
	ctx := context.Background()
	for i := range 5 {
		s.RecordAudit(session.AuditEntry{
			At: at(time.Duration(i) * time.Minute), Subject: "ops", Action: "connections.close",
			Target: "room=lobby", Parameters: []byte(fmt.Sprintf(`{"code":%d}`, 4000+i)),
			Matched: int64(i), Affected: int64(i), Result: "ok",
		})
	}
	s.RecordAudit(session.AuditEntry{At: at(time.Hour), Action: "broadcast", Parameters: []byte("not json")})
	flush(t, s)

	all, err := s.ListAudit(ctx, session.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 6 || all[0].Action != "broadcast" || string(all[0].Parameters) != `"not json"` {
		t.Fatalf("ListAudit = %+v", all)
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID >= all[i-1].ID {
			t.Fatalf("not newest first: %d then %d", all[i-1].ID, all[i].ID)
		}
	}
	if string(all[1].Parameters) != `{"code":4004}` || all[1].Subject != "ops" || all[1].Matched != 4 {
		t.Fatalf("entry = %+v", all[1])
	}

	tests := []struct {
		name string
		f    session.AuditFilter
		want int
	}{
		{"since", session.AuditFilter{Since: at(2 * time.Minute)}, 4},
		{"until", session.AuditFilter{Until: at(2 * time.Minute)}, 2},
		{"limit", session.AuditFilter{Limit: 2}, 2},
		{"before id", session.AuditFilter{BeforeID: all[1].ID}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListAudit(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.want {
				t.Fatalf("got %d entries, want %d", len(got), tt.want)
			}
		})
	}
	if _, err := s.ListAudit(ctx, session.AuditFilter{Limit: -1}); !errors.Is(err, session.ErrInvalidFilter) {
		t.Fatalf("negative limit: %v", err)
	}
}

// TestPragmasEveryConnection holds many connections of each pool open at
// once, so each is a separate connection, and checks what each reports;
// a write through the read pool must fail.
func TestPragmasEveryConnection(t *testing.T) {
	s := testStore(t, func(c *Config) { c.ReadConns = 16 })
	ctx := context.Background()

	readers := make([]*sql.Conn, 0, 16)
	for range 16 {
		c, err := s.rdb.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		readers = append(readers, c)
	}
	for i, c := range readers {
		for _, p := range wantPragmas(roleReader) {
			var got string
			if err := c.QueryRowContext(ctx, "PRAGMA "+p[0]).Scan(&got); err != nil {
				t.Fatalf("reader %d: %s: %v", i, p[0], err)
			}
			if got != p[1] {
				t.Errorf("reader %d: %s = %q, want %q", i, p[0], got, p[1])
			}
		}
		if _, err := c.ExecContext(ctx, "DELETE FROM sessions"); err == nil {
			t.Errorf("reader %d: write succeeded on the read-only pool", i)
		}
	}
	for _, c := range readers {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.rdb.Stats(); st.OpenConnections != 16 {
		t.Fatalf("read pool has %d connections, want 16", st.OpenConnections)
	}

	// The writer pool has exactly one connection; check it through the
	// writer goroutine's own pool.
	for _, p := range wantPragmas(roleWriter) {
		var got string
		if err := s.wdb.QueryRowContext(ctx, "PRAGMA "+p[0]).Scan(&got); err != nil {
			t.Fatalf("writer: %s: %v", p[0], err)
		}
		if got != p[1] {
			t.Errorf("writer: %s = %q, want %q", p[0], got, p[1])
		}
	}
}

// TestPragmaVerificationRefusesConnection: a reader on a database that is
// not in WAL mode must be refused, which proves the hook runs and fails.
func TestPragmaVerificationRefusesConnection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rollback.db")
	db := rawDB(t, path)
	if _, err := db.Exec("CREATE TABLE t (x INTEGER)"); err != nil {
		t.Fatal(err)
	}
	_, err := openDB(context.Background(), path, roleReader, 1)
	if err == nil || !strings.Contains(err.Error(), "journal_mode") {
		t.Fatalf("openDB on a rollback-journal file = %v, want a journal_mode error", err)
	}
}

func TestSecondOpenIsLocked(t *testing.T) {
	s := testStore(t, nil)
	_, err := Open(context.Background(), s.cfg)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
}

func TestSymlinkRefused(t *testing.T) {
	dir := t.TempDir()
	s := testStore(t, func(c *Config) { c.Path = filepath.Join(dir, "real.db") })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.db")
	if err := os.Symlink(s.cfg.Path, link); err != nil {
		t.Skip("symlinks not supported:", err)
	}
	if _, err := Open(context.Background(), Config{Path: link}); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("Open(symlink) = %v", err)
	}
}

func TestClose(t *testing.T) {
	s := testStore(t, nil)
	ctx := context.Background()
	s.RecordOpen(session.Open{ID: "queued-at-close"})
	s.RecordClose(session.Close{ID: "queued-at-close", CloseCode: 1001, ClosedBy: session.ClosedByShutdown})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	s.RecordOpen(session.Open{ID: "after-close"})
	if err := s.Flush(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Flush after Close = %v", err)
	}
	// History reads on a closed store are unavailable (the admin API
	// answers 503 without knowing the store) and say why.
	if _, err := s.ListSessions(ctx, session.Filter{}); !errors.Is(err, ErrClosed) || !errors.Is(err, session.ErrUnavailable) {
		t.Fatalf("ListSessions after Close = %v, want ErrClosed and session.ErrUnavailable", err)
	}
	if _, err := s.GetSession(ctx, "queued-at-close"); !errors.Is(err, session.ErrUnavailable) {
		t.Fatalf("GetSession after Close = %v, want session.ErrUnavailable", err)
	}
	if _, err := s.ListAudit(ctx, session.AuditFilter{}); !errors.Is(err, session.ErrUnavailable) {
		t.Fatalf("ListAudit after Close = %v, want session.ErrUnavailable", err)
	}
	if h := s.Health(); h.Written != 2 || h.Dropped != 1 {
		t.Fatalf("Health = %+v, want the queued record written and the late one dropped", h)
	}
	if fi, err := os.Stat(s.cfg.Path + "-wal"); err == nil && fi.Size() != 0 {
		t.Fatalf("-wal is %d bytes after Close, want truncated", fi.Size())
	}

	// Reopen: the records queued at Close are there, so crash recovery
	// finds nothing to close.
	s2 := testStore(t, func(c *Config) { c.Path = s.cfg.Path })
	got, err := s2.GetSession(ctx, "queued-at-close")
	if err != nil {
		t.Fatal(err)
	}
	if got.CloseCode != 1001 || got.ClosedBy != session.ClosedByShutdown {
		t.Fatalf("session after reopen: %+v", got)
	}
}

// TestQueueFullDropsAreCounted stalls the writer by holding its only
// connection, overfills the queue and checks that every record is either
// written or counted as dropped.
func TestQueueFullDropsAreCounted(t *testing.T) {
	s := testStore(t, func(c *Config) {
		c.QueueSize = 4
		c.BatchSize = 1
		c.FlushInterval = -1
	})
	ctx := context.Background()
	conn, err := s.wdb.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { s.RecordOpen(session.Open{ID: fmt.Sprint("s", i)}) })
	}
	wg.Wait()
	h := s.Health()
	// Capacity while stalled: the queue plus the one record the writer holds.
	if h.Dropped < n-5 {
		t.Fatalf("Dropped = %d, want at least %d", h.Dropped, n-5)
	}
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
	flush(t, s)
	h = s.Health()
	if h.Written+h.Dropped != n {
		t.Fatalf("Written %d + Dropped %d != %d", h.Written, h.Dropped, n)
	}
	page, err := s.ListSessions(ctx, session.Filter{Limit: session.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(page.Sessions)) != h.Written {
		t.Fatalf("%d rows, Written = %d", len(page.Sessions), h.Written)
	}
}

func TestInvalidRecordsAreCounted(t *testing.T) {
	s := testStore(t, nil)
	s.RecordOpen(session.Open{})
	s.RecordClose(session.Close{})
	flush(t, s)
	if h := s.Health(); h.Dropped != 2 || h.Written != 0 {
		t.Fatalf("Health = %+v", h)
	}
}

// TestWriterTransactionsAreImmediate: a writer-role transaction takes the
// write lock at BEGIN, so it can read and then write without ever meeting
// SQLITE_BUSY, which a deferred transaction gets (ignoring busy_timeout) when
// another connection wrote in between. Proof: while our transaction is
// open, another connection's write fails at once. This fails if
// _txlock=immediate is removed from the DSN.
func TestWriterTransactionsAreImmediate(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tx.db")
	db, err := openDB(ctx, path, roleWriter, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	if _, err := db.Exec("CREATE TABLE t (n INTEGER)"); err != nil {
		t.Fatal(err)
	}
	other, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := other.Close(); err != nil {
			t.Error(err)
		}
	})

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Exec("INSERT INTO t VALUES (-1)"); err == nil {
		t.Error("another connection wrote while our transaction was open: BEGIN is not IMMEDIATE")
	} else if !strings.Contains(err.Error(), "locked") {
		t.Errorf("other writer: %v, want database is locked", err)
	}
	var n int
	if err := tx.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("INSERT INTO t VALUES (?)", n+1); err != nil {
		t.Fatalf("read then write in our transaction: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}
