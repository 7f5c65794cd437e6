package daemon

import "errors"

// ErrInvalidConfig wraps every configuration error. The errors of the data
// methods (Connection, Send, Close, ...) are package session's sentinels
// (session.ErrConnNotFound and the rest), matched with errors.Is, so that
// the admin API and the cluster read them without importing the daemon.
var ErrInvalidConfig = errors.New("invalid configuration")
