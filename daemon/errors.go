package daemon

import "errors"

// Sentinel errors of the daemon's data methods, matched with errors.Is.
var (
	// ErrNotFound: no live connection has that id.
	ErrNotFound = errors.New("connection not found")
	// ErrInvalidID: the string is not a connection id.
	ErrInvalidID = errors.New("invalid connection id")
	// ErrInvalidSelector: the selector does not parse.
	ErrInvalidSelector = errors.New("invalid selector")
	// ErrEmptySelector: a destructive bulk operation was given an empty
	// selector without asking for all connections explicitly.
	ErrEmptySelector = errors.New("empty selector matches nothing unless all is explicit")
	// ErrClosing: the connection is closing; nothing more can be sent.
	ErrClosing = errors.New("connection is closing")
	// ErrSlowConsumer: the message would have taken the connection's send
	// queue past its limit; the connection is being closed as a slow consumer.
	ErrSlowConsumer = errors.New("send queue full: slow consumer closed")
	// ErrInvalidClose: the close code or reason may not be sent.
	ErrInvalidClose = errors.New("invalid close code or reason")
	// ErrDraining: the daemon is shutting down.
	ErrDraining = errors.New("daemon is draining")
	// ErrInvalidConfig wraps every configuration error.
	ErrInvalidConfig = errors.New("invalid configuration")
)
