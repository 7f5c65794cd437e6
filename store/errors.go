package store

import "errors"

var (
	// ErrNotFound: no session with that id.
	ErrNotFound = errors.New("not found")
	// ErrUnavailable: the store cannot write (disk full, read-only file,
	// I/O errors), so history reads are refused until it recovers; the
	// admin API answers 503.
	ErrUnavailable = errors.New("store unavailable")
	// ErrClosed: the Store has been closed.
	ErrClosed = errors.New("store closed")
	// ErrLocked: another process holds the database open through a Store.
	ErrLocked = errors.New("database in use by another process")
	// ErrInvalidFilter: a query filter or cursor is malformed; the admin API
	// answers 400.
	ErrInvalidFilter = errors.New("invalid filter")
)
