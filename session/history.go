package session

import (
	"encoding/json"
	"time"
)

// Page sizes of the history queries (Filter.Limit, AuditFilter.Limit).
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Filter selects sessions from history. Empty fields do not filter.
type Filter struct {
	Since     time.Time // connected at or after Since
	Until     time.Time // connected before Until
	User      string
	Route     string
	CloseCode int
	ClosedBy  ClosedBy
	// Selector keeps the sessions it matches (Selector.Match on the
	// Record); the empty and the "all" selector keep every session.
	Selector Selector
	// RemoteAddr is the client's address: an IP keeps the sessions from
	// that IP, any port ("192.0.2.1" matches "192.0.2.1:5000", "2001:db8::1"
	// and "[2001:db8::1]" match "[2001:db8::1]:443"); anything else keeps
	// the sessions whose address is exactly that.
	RemoteAddr string
	Limit      int    // 0 means DefaultLimit; above MaxLimit means MaxLimit; below 0 is ErrInvalidFilter
	Before     string // cursor: Page.Next of the previous page; opaque to callers
}

// Page is one page of sessions, newest first (by ConnectedAt, then ID).
type Page struct {
	Sessions []Record // never nil
	// Next is the cursor of the following (older) page, for Filter.Before;
	// "" on the last page.
	Next string
}

// AuditEntry is one mutating admin API call, as the audit log keeps it.
type AuditEntry struct {
	ID         int64     // assigned by the history when written; ignored when recording
	At         time.Time // zero means the time of recording
	Subject    string    // the admin token's subject
	Action     string    // e.g. "connections.close" (apitype's Action* names)
	Target     string    // a connection id or a selector
	Parameters json.RawMessage
	Matched    int64 // connections the call selected
	Affected   int64 // connections it acted on
	Result     string
}

// AuditFilter selects audit entries, newest first.
type AuditFilter struct {
	Since    time.Time // entries at or after Since; zero means no bound
	Until    time.Time // entries before Until; zero means no bound
	BeforeID int64     // entries with ID below BeforeID (paging); 0 means no bound
	Limit    int       // 0 means DefaultLimit; above MaxLimit means MaxLimit
}

// Health is the state of the history, for /v1/stats and metrics.
type Health struct {
	// Degraded is true while writes fail; reads of history then return
	// ErrUnavailable. It clears by itself once a write succeeds.
	Degraded    bool
	LastError   string    // the last write error, kept after recovery
	LastErrorAt time.Time // zero if there never was one
	Queued      uint64    // records waiting to be written
	Dropped     uint64    // records never written (queue full, closed, invalid, rejected)
	Written     uint64    // records written since start
	Commits     uint64    // write transactions committed since start
	LastCommit  time.Time // zero before the first commit
	WALBytes    int64     // size of the write-ahead log, -1 if unknown
}
