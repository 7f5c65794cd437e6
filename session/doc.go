// Package session is the vocabulary of wsd's session history, shared by the
// daemon that produces it, the store that keeps it, the admin API that
// serves it and, later, the cluster that carries it between nodes: the
// records of a session's start and end (Open, Close), who or what ended it
// (ClosedBy, with a meaning in plain words for each value), the row read
// back from history (Record), the history's queries and their pages
// (Filter, Page, AuditFilter), the audit log's entries (AuditEntry), the
// history's state (Health) and the errors a history reports (ErrNotFound,
// ErrInvalidFilter, ErrUnavailable); and the vocabulary of live
// connections that the daemon's registry, the admin API and the cluster
// share: a connection (Conn), its events (Event), a node's Stats, what a
// broadcast did (BroadcastResult), the selectors that pick connections
// (Selector, with the grammar kubectl users know) and the errors of those
// operations (ErrConnNotFound and the rest).
//
// It declares data, and the little behaviour that data needs (parsing and
// matching a selector, the meaning of a ClosedBy): plain exported fields,
// times as time.Time, no channels, so that every type can travel as JSON
// or over a bus. It imports the standard library only and none of wsd's
// packages, so that any of them can import it without importing each
// other.
//
// # Concurrency
//
// The package has no state. Its values are plain data, safe to share once
// no one writes to them; a map inside one (Open.Labels, Record.Labels) is
// the caller's to guard.
package session
