package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"

	"github.com/pressly/goose/v3"

	"github.com/wsd-dev/wsd/migrations"
)

// migrate brings the schema up to date. goose's Provider runs each SQL file
// in its own transaction together with the insert into goose_db_version, so
// a crash mid-migration leaves the old schema or the new one. goose rather
// than golang-migrate: its Provider takes an fs.FS and a *sql.DB with no
// global registry, and golang-migrate keeps a "dirty" flag that needs a human
// after a failed migration, whereas a rolled-back goose migration simply
// runs again at the next start.
func migrate(ctx context.Context, db *sql.DB, log *slog.Logger) error {
	p, err := goose.NewProvider(goose.DialectSQLite3, db, migrations.FS(),
		goose.WithDisableGlobalRegistry(true), goose.WithSlog(log))
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	from, err := p.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("migrate: schema version: %w", err)
	}
	if srcs := p.ListSources(); len(srcs) > 0 {
		if known := srcs[len(srcs)-1].Version; from > known {
			return fmt.Errorf("migrate: the history database is at schema %d, newer than this wsd knows (%d): run the wsd that wrote it, or restore a backup taken before the upgrade", from, known)
		}
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if len(results) > 0 {
		to := results[len(results)-1].Source.Version
		log.Info("store: schema migrated", "from", from, "to", to)
	}
	return nil
}
