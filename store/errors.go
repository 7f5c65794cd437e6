package store

import "errors"

// The store's own errors. The errors of history reads (not found, invalid
// filter, unavailable) are package session's, which the store wraps.
var (
	// ErrClosed: the Store has been closed. History reads on a closed
	// Store return an error that is also session.ErrUnavailable.
	ErrClosed = errors.New("store closed")
	// ErrLocked: another process holds the database open through a Store.
	ErrLocked = errors.New("database in use by another process")
)
