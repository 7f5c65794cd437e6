package store

import (
	"context"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/pressly/goose/v3"

	"github.com/wsd-dev/wsd/migrations"

	"github.com/wsd-dev/wsd/session"
)

func latestVersion(t *testing.T) int64 {
	t.Helper()
	entries, err := fs.ReadDir(migrations.FS(), ".")
	if err != nil {
		t.Fatal(err)
	}
	return int64(len(entries)) // files are numbered consecutively from 1 (migrations test)
}

func TestMigrationsAppliedAndIdempotent(t *testing.T) {
	ctx := context.Background()
	s := testStore(t, nil)
	path := s.cfg.Path
	s.RecordOpen(session.Open{ID: "kept"})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	version := func() (v int64, rows int) {
		db := rawDB(t, path)
		if err := db.QueryRow("SELECT max(version_id), count(*) FROM goose_db_version").Scan(&v, &rows); err != nil {
			t.Fatal(err)
		}
		return v, rows
	}
	v1, rows1 := version()
	if v1 != latestVersion(t) {
		t.Fatalf("schema version %d, want %d", v1, latestVersion(t))
	}
	for range 2 {
		s := testStore(t, func(c *Config) { c.Path = path })
		if _, err := s.GetSession(ctx, "kept"); err != nil {
			t.Fatalf("data lost on reopen: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if v2, rows2 := version(); v2 != v1 || rows2 != rows1 {
		t.Fatalf("reopen changed goose_db_version: %d/%d rows -> %d/%d", v1, rows1, v2, rows2)
	}
}

// TestFailedMigrationLeavesOldSchema: a migration that fails halfway is
// rolled back whole, DDL included, with the version unchanged, and the
// database keeps working.
func TestFailedMigrationLeavesOldSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	init, err := fs.ReadFile(migrations.FS(), "00001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{
		"00001_init.sql": {Data: init},
		"00002_broken.sql": {Data: []byte(`-- +goose Up
CREATE TABLE half (x INTEGER);
ALTER TABLE sessions ADD COLUMN extra TEXT;
INSERT INTO no_such_table VALUES (1);
-- +goose Down
DROP TABLE half;
`)},
	}
	db, err := openDB(ctx, path, roleWriter, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Up(ctx); err == nil || !strings.Contains(err.Error(), "no_such_table") {
		t.Fatalf("Up = %v, want the broken migration's error", err)
	}
	if v, err := p.GetDBVersion(ctx); err != nil || v != 1 {
		t.Fatalf("version = %d, %v; want 1", v, err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE name = 'half'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("table from the failed migration: count %d, %v", n, err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM pragma_table_info('sessions') WHERE name = 'extra'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("column from the failed migration: count %d, %v", n, err)
	}
	integrityOK(t, db)
}

// TestNewerSchemaRefused: after a rollback to an older wsd, a database
// migrated by the newer one is refused with a message that says so, not
// used with a schema this build does not know.
func TestNewerSchemaRefused(t *testing.T) {
	s := testStore(t, nil)
	path := s.cfg.Path
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	if _, err := db.Exec("INSERT INTO goose_db_version (version_id, is_applied) VALUES (?, 1)", latestVersion(t)+1); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Path: path}
	_, err := Open(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "newer than this wsd knows") {
		t.Fatalf("Open of a newer schema: %v", err)
	}
}

// TestUpgradeFromSchema1: a database written by a wsd at schema 1 opens
// with migration 00002 applied; its rows read back with no trace id and no
// black box, and new rows carry both.
func TestUpgradeFromSchema1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	db, err := openDB(ctx, path, roleWriter, 1)
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, migrations.FS(), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO sessions (id, route, connected_at, closed_at, close_code, closed_by)
		VALUES ('old', '/chat', 1, 2, 1006, 'client')`); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := testStore(t, func(c *Config) { c.Path = path })
	old, err := s.GetSession(ctx, "old")
	if err != nil {
		t.Fatal(err)
	}
	if old.TraceID != "" || old.BlackBox != nil || old.CloseCode != 1006 || old.Route != "/chat" {
		t.Fatalf("row from schema 1: %+v", old)
	}
	s.RecordOpen(session.Open{ID: "new", ConnectedAt: at(0), TraceID: "4bf92f3577b34da6a3ce929d0e0e4736"})
	s.RecordClose(session.Close{ID: "new", ClosedAt: at(1), CloseCode: 1006,
		BlackBox: []session.Frame{{At: at(1), In: true, Opcode: 2, Len: 9}}})
	flush(t, s)
	got, err := s.GetSession(ctx, "new")
	if err != nil {
		t.Fatal(err)
	}
	if got.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" || len(got.BlackBox) != 1 || got.BlackBox[0].Len != 9 {
		t.Fatalf("row after the upgrade: %+v", got)
	}
}
