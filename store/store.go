package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsd-dev/wsd/session"
)

// Store records session history and the audit log in SQLite. Its methods
// are safe for concurrent use.
type Store struct {
	cfg  Config
	log  *slog.Logger
	wdb  *sql.DB // the one writer connection; used only by the writer goroutine after Open
	rdb  *sql.DB // read-only pool for queries
	ckpt *checkpointer
	lock io.Closer

	queue    chan record
	full     chan struct{} // capacity 1: a batch's worth is queued
	flushc   chan chan error
	stop     chan struct{} // closed by Close: the writer flushes and returns, the checkpointer returns
	done     chan struct{} // closed by the writer when it has returned
	ckptDone chan struct{} // closed by the checkpointer when it has returned
	cancel   context.CancelFunc

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
	finalErr  error // the writer's last word; read after done is closed

	drops   dropCounters
	written atomic.Uint64
	commits atomic.Uint64
	pending atomic.Int64 // records held by the writer (the batch being built or retried)

	degraded atomic.Bool
	mu       sync.Mutex // guards the fields below
	lastErr  string
	errAt    time.Time
	commitAt time.Time
}

// record is one queued write. Implementations are in session.go and audit.go.
type record interface {
	apply(ctx context.Context, b *batch) error
	queuedAt() time.Time
	describe() string
}

// dropCounters count records that were never written, by reason.
type dropCounters struct {
	queueFull atomic.Uint64 // the queue was full
	closed    atomic.Uint64 // recorded after Close
	invalid   atomic.Uint64 // no id
	rejected  atomic.Uint64 // the database refused the row itself (not a transient failure)
	lost      atomic.Uint64 // still queued when Close gave up
}

func (d *dropCounters) total() uint64 {
	return d.queueFull.Load() + d.closed.Load() + d.invalid.Load() + d.rejected.Load() + d.lost.Load()
}

// Open opens (creating if needed) the database at cfg.Path, verifies the
// pragmas, applies migrations, closes the sessions a crash left open and
// starts the writer and checkpointer goroutines. ctx bounds the opening
// only. The caller must Close the Store.
func Open(ctx context.Context, cfg Config) (_ *Store, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	cfg.Path = filepath.Clean(cfg.Path)
	s := &Store{
		cfg:      cfg,
		log:      cfg.Logger,
		queue:    make(chan record, cfg.QueueSize),
		full:     make(chan struct{}, 1),
		flushc:   make(chan chan error),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		ckptDone: make(chan struct{}),
	}
	if err := checkPath(cfg.Path); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if s.lock, err = lockPath(cfg.Path + "-wsd.lock"); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.closeDBs())
		}
	}()
	if s.wdb, err = openDB(ctx, cfg.Path, roleWriter, 1); err != nil {
		return nil, fmt.Errorf("open store %s: %w", cfg.Path, err)
	}
	if err := migrate(ctx, s.wdb, s.log); err != nil {
		return nil, fmt.Errorf("open store %s: %w", cfg.Path, err)
	}
	if err := s.recoverCrashed(ctx, time.Now()); err != nil {
		return nil, fmt.Errorf("open store %s: %w", cfg.Path, err)
	}
	// Readers open after the writer has put the file in WAL mode and created
	// the schema: a read-only connection can do neither.
	if s.rdb, err = openDB(ctx, cfg.Path, roleReader, cfg.ReadConns); err != nil {
		return nil, fmt.Errorf("open store %s: %w", cfg.Path, err)
	}
	s.rdb.SetConnMaxIdleTime(5 * time.Minute)
	ckdb, err := openDB(ctx, cfg.Path, roleCheckpointer, 1)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", cfg.Path, err)
	}
	s.ckpt = newCheckpointer(s, ckdb)

	w, err := newWriter(s)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", cfg.Path, err)
	}
	wctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() {
		defer close(s.ckptDone)
		s.ckpt.run(wctx, s.stop)
	}()
	go func() {
		defer close(s.done)
		s.finalErr = w.run(wctx, s.stop)
	}()
	return s, nil
}

// Close stops accepting records, commits what is queued (bounded by
// Config.CloseTimeout), checkpoints the WAL, stops the writer and closes the
// database. Records still queued when the timeout expires are counted as
// dropped and logged. Close is idempotent; later calls return the first
// result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		close(s.stop)
		t := time.AfterFunc(s.cfg.CloseTimeout, s.cancel)
		<-s.done
		<-s.ckptDone
		t.Stop()
		s.cancel()
		s.closeErr = errors.Join(s.finalErr, s.closeDBs())
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("close store: %w", s.closeErr)
		}
	})
	return s.closeErr
}

func (s *Store) closeDBs() error {
	var errs []error
	if s.rdb != nil {
		errs = append(errs, s.rdb.Close())
	}
	if s.ckpt != nil {
		errs = append(errs, s.ckpt.db.Close())
	}
	if s.wdb != nil {
		errs = append(errs, s.wdb.Close())
	}
	if s.lock != nil {
		errs = append(errs, s.lock.Close())
	}
	return errors.Join(errs...)
}

// Flush waits until every record passed to Record* before the call is
// committed. While writes fail it makes one immediate attempt and returns
// an error wrapping session.ErrUnavailable if that fails too; the records stay
// queued for the writer's retries.
func (s *Store) Flush(ctx context.Context) error {
	if s.closed.Load() {
		return fmt.Errorf("flush: %w", ErrClosed)
	}
	reply := make(chan error, 1)
	select {
	case s.flushc <- reply:
	case <-s.done:
		return fmt.Errorf("flush: %w", ErrClosed)
	case <-ctx.Done():
		return fmt.Errorf("flush: %w", ctx.Err())
	}
	select {
	case err := <-reply:
		if err != nil {
			return fmt.Errorf("flush: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("flush: %w", ctx.Err())
	}
}

// enqueue hands r to the writer without blocking.
func (s *Store) enqueue(r record) {
	if s.closed.Load() {
		s.drops.closed.Add(1)
		return
	}
	select {
	case s.queue <- r:
		if len(s.queue)+int(s.pending.Load()) >= s.cfg.BatchSize {
			select {
			case s.full <- struct{}{}:
			default: // the writer has been told already
			}
		}
	default:
		s.drops.queueFull.Add(1)
	}
}

// readable returns nil if history reads may be served. A closed store
// cannot serve them either: its error is both session.ErrUnavailable and
// ErrClosed.
func (s *Store) readable() error {
	if s.closed.Load() {
		return fmt.Errorf("%w: %w", session.ErrUnavailable, ErrClosed)
	}
	if s.degraded.Load() {
		s.mu.Lock()
		msg := s.lastErr
		s.mu.Unlock()
		return fmt.Errorf("%w: %s", session.ErrUnavailable, msg)
	}
	return nil
}

// Health reports the store's state, for /v1/stats and metrics. It does not
// touch the database.
func (s *Store) Health() session.Health {
	h := session.Health{
		Degraded: s.degraded.Load(),
		Queued:   uint64(len(s.queue)) + uint64(max(s.pending.Load(), 0)),
		Dropped:  s.drops.total(),
		Written:  s.written.Load(),
		Commits:  s.commits.Load(),
		WALBytes: -1,
	}
	s.mu.Lock()
	h.LastError, h.LastErrorAt, h.LastCommit = s.lastErr, s.errAt, s.commitAt
	s.mu.Unlock()
	if fi, err := os.Stat(s.cfg.Path + "-wal"); err == nil {
		h.WALBytes = fi.Size()
	} else if errors.Is(err, os.ErrNotExist) {
		h.WALBytes = 0
	}
	return h
}
