package session

import "errors"

// Errors a history reports, matched with errors.Is (a history wraps them
// with context). The admin API answers each with its own status.
var (
	// ErrNotFound: no session has that id (404).
	ErrNotFound = errors.New("not found")
	// ErrInvalidFilter: a query filter or cursor is malformed (400).
	ErrInvalidFilter = errors.New("invalid filter")
	// ErrUnavailable: the history cannot serve reads now, because its
	// writes fail (disk full, read-only file, I/O errors) or it is closed
	// (503). A degraded history recovers by itself.
	ErrUnavailable = errors.New("history unavailable")
)
