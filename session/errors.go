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

// Errors of the operations on live connections (the daemon's registry, or
// the fleet's), matched with errors.Is. The admin API answers each with
// its own status.
var (
	// ErrConnNotFound: no live connection has that id (404).
	ErrConnNotFound = errors.New("connection not found")
	// ErrInvalidID: the string is not a connection id (400).
	ErrInvalidID = errors.New("invalid connection id")
	// ErrInvalidSelector: the selector does not parse (400).
	ErrInvalidSelector = errors.New("invalid selector")
	// ErrEmptySelector: a destructive bulk operation was given an empty
	// selector without asking for all connections explicitly (400).
	ErrEmptySelector = errors.New("empty selector matches nothing unless all is explicit")
	// ErrClosing: the connection is closing; nothing more can be sent (409).
	ErrClosing = errors.New("connection is closing")
	// ErrSlowConsumer: the message would have taken the connection's send
	// queue past its limit; the connection is being closed as a slow
	// consumer (409).
	ErrSlowConsumer = errors.New("send queue full: slow consumer closed")
	// ErrInvalidClose: the close code or reason may not be sent (400).
	ErrInvalidClose = errors.New("invalid close code or reason")
	// ErrDraining: the node is shutting down (503).
	ErrDraining = errors.New("daemon is draining")
)
