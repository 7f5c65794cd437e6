package migrations_test

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver for this test only
	"github.com/pressly/goose/v3"

	"github.com/wsd-dev/wsd/migrations"
)

// TestFiles checks the house rules for migration files: consecutive
// five-digit numbers from 00001, an Up and a Down section, and no file that
// opts out of goose's per-migration transaction.
func TestFiles(t *testing.T) {
	name := regexp.MustCompile(`^(\d{5})_[a-z0-9_]+\.sql$`)
	entries, err := fs.ReadDir(migrations.FS(), ".")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 {
		t.Fatal("no migrations embedded")
	}
	for i, e := range entries {
		m := name.FindStringSubmatch(e.Name())
		if m == nil {
			t.Errorf("%s: name must be NNNNN_description.sql", e.Name())
			continue
		}
		if want := fmt.Sprintf("%05d", i+1); m[1] != want {
			t.Errorf("%s: number %s, want %s (consecutive from 00001)", e.Name(), m[1], want)
		}
		b, err := fs.ReadFile(migrations.FS(), e.Name())
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		for _, marker := range []string{"-- +goose Up", "-- +goose Down"} {
			if !strings.Contains(text, marker) {
				t.Errorf("%s: missing %q", e.Name(), marker)
			}
		}
		if strings.Contains(text, "NO TRANSACTION") {
			t.Errorf("%s: every migration must run in a transaction", e.Name())
		}
	}
}

// TestUpDownUp applies every migration, rolls all of them back and applies
// them again on a real SQLite file, so the Down sections stay runnable.
func TestUpDownUp(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(t.TempDir(), "m.db")+"?_journal_mode=WAL&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	p, err := goose.NewProvider(goose.DialectSQLite3, db, migrations.FS(), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	srcs := p.ListSources()
	last := srcs[len(srcs)-1].Version
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up: %v", err)
	}
	if v, err := p.GetDBVersion(ctx); err != nil || v != last {
		t.Fatalf("version after up = %d, %v; want %d", v, err, last)
	}
	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatalf("down: %v", err)
	}
	var tables int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema
		WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != ?`, goose.DefaultTablename).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Fatalf("%d tables left after migrating down to 0", tables)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up again: %v", err)
	}
	if v, err := p.GetDBVersion(ctx); err != nil || v != last {
		t.Fatalf("version after up again = %d, %v; want %d", v, err, last)
	}
}
