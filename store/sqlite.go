package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/mattn/go-sqlite3"
)

// role says what a connection is for; each role has its own DSN and the
// pragmas every connection of that role must report.
type role int

const (
	roleWriter       role = iota // the one connection that writes transactions
	roleReader                   // the read-only query pool
	roleCheckpointer             // copies the WAL into the database in the background
)

func (r role) String() string {
	switch r {
	case roleWriter:
		return "writer"
	case roleCheckpointer:
		return "checkpointer"
	}
	return "reader"
}

// walSizeLimit caps the -wal file left behind after a checkpoint resets it.
// SQLite truncates the file to it when the log restarts, so it is the size
// the file returns to after a reader pinned the log and let it grow (at
// 64 MiB a pinned WAL kept its peak size for the life of the process). In
// steady state a checkpoint every 100 ms keeps the log far below it.
const walSizeLimit = 4 << 20

// dsn builds the mattn/go-sqlite3 URI for path. Pragmas are set through the
// DSN because they are per connection and a pool opens connections at will.
func dsn(path string, r role) string {
	q := url.Values{}
	q.Set("_busy_timeout", strconv.FormatInt(BusyTimeout.Milliseconds(), 10))
	q.Set("_synchronous", "NORMAL")
	q.Set("_foreign_keys", "1")
	switch r {
	case roleWriter, roleCheckpointer:
		q.Set("_journal_mode", "WAL")
		// BEGIN IMMEDIATE: a transaction takes the write lock when it starts,
		// so it waits (busy_timeout) instead of failing with SQLITE_BUSY
		// when it upgrades from read to write.
		q.Set("_txlock", "immediate")
	case roleReader:
		q.Set("mode", "ro")
		q.Set("_query_only", "1")
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// wantPragmas lists what every connection of a role must report.
func wantPragmas(r role) [][2]string {
	p := [][2]string{
		{"journal_mode", "wal"},
		{"synchronous", "1"}, // NORMAL
		{"busy_timeout", strconv.FormatInt(BusyTimeout.Milliseconds(), 10)},
		{"foreign_keys", "1"},
	}
	if r == roleReader {
		return append(p, [2]string{"query_only", "1"})
	}
	// No checkpoint inside the writer's commits: the checkpointer does them.
	return append(p, [2]string{"query_only", "0"}, [2]string{"wal_autocheckpoint", "0"})
}

// connector opens connections through a private driver value whose
// ConnectHook verifies the pragmas of every new connection, so nothing is
// registered globally with database/sql.
type connector struct {
	dsn string
	drv *sqlite3.SQLiteDriver
}

func newConnector(path string, r role) *connector {
	return &connector{
		dsn: dsn(path, r),
		drv: &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
			return setupConn(c, r)
		}},
	}
}

func (c *connector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }
func (c *connector) Driver() driver.Driver                        { return c.drv }

func setupConn(c *sqlite3.SQLiteConn, r role) error {
	ctx := context.Background()
	if r != roleReader {
		for _, p := range []string{
			"PRAGMA journal_size_limit = " + strconv.Itoa(walSizeLimit),
			"PRAGMA wal_autocheckpoint = 0",
		} {
			if _, err := c.ExecContext(ctx, p, nil); err != nil {
				return fmt.Errorf("%s connection: %s: %w", r, p, err)
			}
		}
	}
	for _, p := range wantPragmas(r) {
		got, err := pragma(ctx, c, p[0])
		if err != nil {
			return fmt.Errorf("%s connection: %w", r, err)
		}
		if got != p[1] {
			return fmt.Errorf("%s connection: pragma %s is %q, want %q", r, p[0], got, p[1])
		}
	}
	return nil
}

func pragma(ctx context.Context, c *sqlite3.SQLiteConn, name string) (value string, err error) {
	rows, err := c.QueryContext(ctx, "PRAGMA "+name, nil)
	if err != nil {
		return "", fmt.Errorf("pragma %s: %w", name, err)
	}
	defer func() {
		if cerr := rows.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("pragma %s: %w", name, cerr)
		}
	}()
	dest := make([]driver.Value, len(rows.Columns()))
	if err := rows.Next(dest); err != nil {
		return "", fmt.Errorf("pragma %s: %w", name, err)
	}
	switch v := dest[0].(type) {
	case int64:
		return strconv.FormatInt(v, 10), nil
	case string:
		return v, nil
	case []byte:
		return string(v), nil
	default:
		return "", fmt.Errorf("pragma %s: unexpected %T", name, v)
	}
}

// openDB opens a pool of role r on path and makes one connection, so a bad
// path or a pragma that does not hold fails here rather than at first use.
func openDB(ctx context.Context, path string, r role, conns int) (*sql.DB, error) {
	db := sql.OpenDB(newConnector(path, r))
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	if err := db.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("open %s pool: %w", r, err), db.Close())
	}
	return db, nil
}

// transient reports whether a write error may go away by itself (disk full,
// read-only file, I/O error, lock contention) so the batch is kept and
// retried, as opposed to an error caused by the record itself.
func transient(err error) bool {
	var se sqlite3.Error
	if !errors.As(err, &se) {
		return true // context cancelled, connection trouble: retry
	}
	switch se.Code {
	case sqlite3.ErrConstraint, sqlite3.ErrTooBig, sqlite3.ErrMismatch, sqlite3.ErrRange:
		return false
	}
	return true
}

// noTransaction reports whether err is SQLite refusing a ROLLBACK because the
// transaction is already gone (rolled back by SQLite itself).
func noTransaction(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrError &&
		strings.Contains(se.Error(), "no transaction is active")
}
