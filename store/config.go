package store

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Defaults for the zero fields of Config.
const (
	DefaultQueueSize         = 16384
	DefaultBatchSize         = 512
	DefaultFlushInterval     = 50 * time.Millisecond
	DefaultRetention         = 30 * 24 * time.Hour
	DefaultHeartbeatInterval = 5 * time.Second
	DefaultReadConns         = 4
	DefaultQueryTimeout      = 30 * time.Second
	DefaultCloseTimeout      = 5 * time.Second

	// BusyTimeout is the SQLite busy_timeout set on, and verified for, every
	// connection.
	BusyTimeout = 5 * time.Second
)

// Config configures a Store. The zero value of every field except Path means
// the default above.
type Config struct {
	// Path of the SQLite database file; created if absent. Required.
	Path string
	// Node is written into every session row (e.g. the host name).
	Node string
	// QueueSize bounds the records waiting for the writer. When it is full a
	// Record call drops its record, counts it and the writer logs the count.
	QueueSize int
	// BatchSize is the most records committed in one transaction.
	BatchSize int
	// FlushInterval is how long the writer waits for a batch to fill after
	// its first record arrives, trading commit latency for fewer
	// transactions. Negative means commit at once.
	FlushInterval time.Duration
	// Retention: closed sessions and audit rows older than this are pruned
	// in the background.
	Retention time.Duration
	// HeartbeatInterval is how often the writer records that the daemon is
	// alive; crash recovery closes left-open sessions at the last heartbeat.
	HeartbeatInterval time.Duration
	// ReadConns is the size of the read-only connection pool.
	ReadConns int
	// QueryTimeout bounds every history read so that a slow reader cannot
	// pin the WAL (checkpoint starvation).
	QueryTimeout time.Duration
	// CloseTimeout bounds the final flush in Close.
	CloseTimeout time.Duration
	// Logger receives the store's logs; nil discards them.
	Logger *slog.Logger
	// OnCommit, if set, is called by the writer goroutine after every batch
	// transaction that committed (for metrics). It must return quickly.
	OnCommit func(CommitInfo)
}

// CommitInfo describes one committed batch.
type CommitInfo struct {
	Records  int           // records in the transaction
	Duration time.Duration // BEGIN to COMMIT
	// MaxWait is the age of the oldest record of the batch at commit: the
	// worst enqueue-to-durable latency in this batch.
	MaxWait time.Duration
}

// Validate reports whether c can be used. Zero fields are valid (they take
// their defaults); Path is required.
func (c Config) Validate() error {
	var errs []error
	if c.Path == "" {
		errs = append(errs, errors.New("path is required"))
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"queue size", c.QueueSize}, {"batch size", c.BatchSize}, {"read conns", c.ReadConns}} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("%s %d is negative", f.name, f.v))
		}
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{
		{"retention", c.Retention},
		{"heartbeat interval", c.HeartbeatInterval},
		{"query timeout", c.QueryTimeout},
		{"close timeout", c.CloseTimeout},
	} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("%s %v is negative", f.name, f.v))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("store config: %w", err)
	}
	return nil
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	setInt := func(p *int, d int) {
		if *p == 0 {
			*p = d
		}
	}
	setDur := func(p *time.Duration, d time.Duration) {
		if *p == 0 {
			*p = d
		}
	}
	setInt(&c.QueueSize, DefaultQueueSize)
	setInt(&c.BatchSize, DefaultBatchSize)
	setInt(&c.ReadConns, DefaultReadConns)
	setDur(&c.FlushInterval, DefaultFlushInterval)
	setDur(&c.Retention, DefaultRetention)
	setDur(&c.HeartbeatInterval, DefaultHeartbeatInterval)
	setDur(&c.QueryTimeout, DefaultQueryTimeout)
	setDur(&c.CloseTimeout, DefaultCloseTimeout)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
