// Package migrations holds the SQL schema of the wsd session store as numbered
// goose migrations (00001_init.sql, 00002_...). Package store applies them at
// start through a goose v3 Provider; every file runs in its own transaction
// together with the row that records its version, so a crash in the middle of
// a migration leaves the previous schema or the new one, never a mix.
//
// Rules for new files: never edit a file that has shipped; add the next number;
// keep both the Up and the Down section; no "-- +goose NO TRANSACTION".
package migrations

import (
	"embed"
	"io/fs"
)

//go:embed *.sql
var files embed.FS

// FS returns the migration files, named NNNNN_description.sql, at its root.
func FS() fs.FS { return files }
