package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/wsd-dev/wsd/session"
)

const (
	retryMin = 100 * time.Millisecond
	// retryMax bounds the backoff so writes resume within a few seconds of
	// space coming back.
	retryMax = 2 * time.Second
	// reportEvery rate-limits the drop and failure log lines.
	reportEvery = 10 * time.Second
)

// writer is the state of the one goroutine that writes to the database. It
// owns s.wdb after Open; nothing else writes. Records come in through
// s.queue in order and are committed in batches; a batch that fails with a
// transient error is kept (pending) and retried with backoff while the queue
// fills behind it, so memory stays bounded by QueueSize plus one batch and
// the excess is dropped at the queue, counted.
type writer struct {
	s           *Store
	open        *sql.Stmt
	close       *sql.Stmt
	closeUpdate *sql.Stmt
	openClose   *sql.Stmt
	audit       *sql.Stmt
	beat        *sql.Stmt
	pairs       sessionPairs

	pending   []record
	failing   bool
	failSince time.Time
	backoff   time.Duration
	retry     *time.Timer
	lastBeat  time.Time
	pruneMore bool

	lastErrLog  time.Time
	lastCkptLog time.Time
	lastDropLog time.Time
	droppedSeen uint64
}

// batch is one write transaction's view of the prepared statements.
type batch struct {
	open, close, closeUpdate, openClose, audit *sql.Stmt
	node                                       string
}

func newWriter(s *Store) (_ *writer, err error) {
	w := &writer{s: s, pruneMore: true, lastBeat: time.Now(), pairs: sessionPairs{reuse: s.cfg.BatchSize}}
	for _, p := range []struct {
		dst **sql.Stmt
		q   string
	}{{&w.open, sqlUpsertOpen}, {&w.close, sqlUpsertClose}, {&w.closeUpdate, sqlUpdateClose}, {&w.openClose, sqlUpsertSession}, {&w.audit, sqlInsertAudit}, {&w.beat, sqlHeartbeat}} {
		if *p.dst, err = s.wdb.Prepare(p.q); err != nil {
			return nil, errors.Join(fmt.Errorf("prepare: %w", err), w.closeStmts())
		}
	}
	w.retry = time.NewTimer(time.Hour)
	w.retry.Stop()
	return w, nil
}

func (w *writer) closeStmts() error {
	var errs []error
	for _, st := range []*sql.Stmt{w.open, w.close, w.closeUpdate, w.openClose, w.audit, w.beat} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}

// run is the writer goroutine. It returns when stop is closed, after a
// final flush bounded by ctx.
func (w *writer) run(ctx context.Context, stop <-chan struct{}) error {
	s := w.s
	beat := time.NewTicker(s.cfg.HeartbeatInterval)
	defer beat.Stop()
	prune := time.NewTicker(pruneEvery)
	defer prune.Stop()
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	defer w.retry.Stop()
	ready := make(chan struct{}) // always ready: makes a select non-blocking
	close(ready)

	for {
		w.report(time.Now(), false)
		if w.failing {
			select {
			case <-w.retry.C:
				w.commitLogged(ctx)
			case reply := <-s.flushc:
				reply <- w.flush(ctx)
			case <-beat.C:
			case <-stop:
				return w.shutdown(ctx)
			}
			continue
		}
		if w.pruneMore {
			w.prune(ctx)
		}
		var again chan struct{}
		if w.pruneMore {
			again = ready
		}
		select {
		case r := <-s.queue:
			w.pending = append(w.pending, r)
		case reply := <-s.flushc:
			reply <- w.flush(ctx)
			continue
		case <-beat.C:
			w.heartbeat(ctx)
			continue
		case <-prune.C:
			w.pruneMore = true
			continue
		case <-again:
			continue
		case <-stop:
			return w.shutdown(ctx)
		}
		w.fill(linger)
		w.commitLogged(ctx)
	}
}

// maxPending bounds the records the writer holds, beyond the queue.
func (w *writer) maxPending() int { return w.s.cfg.QueueSize + w.s.cfg.BatchSize }

// flush commits everything that was queued when it was called.
func (w *writer) flush(ctx context.Context) error {
	n := len(w.s.queue)
	for {
		k := min(n, w.maxPending()-len(w.pending))
		w.take(k)
		n -= k
		if err := w.commit(ctx); err != nil {
			return err
		}
		if n <= 0 {
			return nil
		}
	}
}

// take moves up to n queued records into pending without blocking.
func (w *writer) take(n int) {
	defer func() { w.s.pending.Store(int64(len(w.pending))) }()
	for ; n > 0; n-- {
		select {
		case r := <-w.s.queue:
			w.pending = append(w.pending, r)
		default:
			return
		}
	}
}

// fill tops pending up to BatchSize, waiting at most FlushInterval for
// records that have not arrived yet. It waits without taking records one
// by one, which would wake the writer once per record: they stay queued
// until the interval ends, or until enqueue reports that they and pending
// make a batch (full).
func (w *writer) fill(linger *time.Timer) {
	s := w.s
	select {
	case <-s.full: // stale: what it reported is being taken now
	default:
	}
	w.take(s.cfg.BatchSize - len(w.pending))
	if len(w.pending) >= s.cfg.BatchSize || s.cfg.FlushInterval <= 0 {
		return
	}
	// A record queued while take was publishing pending may have missed
	// the batch: look once more before waiting.
	if len(w.pending)+len(s.queue) < s.cfg.BatchSize {
		linger.Reset(s.cfg.FlushInterval)
		select {
		case <-linger.C:
		case <-s.full:
			linger.Stop()
		}
	}
	w.take(s.cfg.BatchSize - len(w.pending))
}

// commitLogged commits pending; a failure is already recorded and logged
// (rate-limited) by commit, and the batch stays pending for the retry.
func (w *writer) commitLogged(ctx context.Context) {
	if err := w.commit(ctx); err != nil {
		w.s.log.Debug("store: batch not committed", "err", err)
	}
}

// commit writes pending in one transaction. On success pending is emptied;
// on a transient failure it is kept for a retry and the store is degraded.
// A record that the database rejects on its own (a constraint, say) is
// isolated, dropped and logged, so one bad row never wedges the writer.
// With nothing pending while degraded, a heartbeat write probes the disk.
func (w *writer) commit(ctx context.Context) error {
	start := time.Now()
	var err error
	switch {
	case len(w.pending) == 0 && !w.failing:
		return nil
	case len(w.pending) == 0:
		err = w.heartbeatNow(ctx, start)
	default:
		err = w.apply(ctx, w.pending, start)
		if err == nil {
			w.committed(ctx, start)
		} else if !transient(err) {
			err = w.isolate(ctx, start)
		}
	}
	if err != nil {
		w.fail(err)
		return fmt.Errorf("%w: %w", session.ErrUnavailable, err)
	}
	w.recovered()
	return nil
}

// apply runs recs (and a heartbeat, if one is due) in one transaction. A
// session whose open and close are both in recs is written with one
// statement (see sessionPairs). recs itself is not changed: a batch that
// fails is retried whole, or isolated record by record, as before.
func (w *writer) apply(ctx context.Context, recs []record, now time.Time) (err error) {
	tx, err := w.s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { err = rollbackUnlessDone(tx, err) }()
	// The statements run under a context that cannot be cancelled: given
	// one that can, go-sqlite3 runs every statement on a new goroutine so it
	// can interrupt it, which costs a goroutine hand-off per record and
	// halved throughput on a busy machine. Nothing inside the transaction
	// waits on a lock (BEGIN IMMEDIATE took it), so there is nothing to
	// interrupt; BeginTx above stays cancellable.
	sctx := context.WithoutCancel(ctx)
	b := &batch{
		open:        tx.StmtContext(sctx, w.open),
		close:       tx.StmtContext(sctx, w.close),
		closeUpdate: tx.StmtContext(sctx, w.closeUpdate),
		audit:       tx.StmtContext(sctx, w.audit),
		node:        w.s.cfg.Node,
	}
	mate := w.pairs.find(recs)
	if mate != nil {
		b.openClose = tx.StmtContext(sctx, w.openClose)
	}
	for i, r := range recs {
		if mate != nil && mate[i] >= 0 {
			if int(mate[i]) > i {
				continue // an open, written below together with its close
			}
			p := openCloseRecord{open: recs[mate[i]].(*openRecord), close: r.(*closeRecord)}
			if err := p.apply(sctx, b); err != nil {
				return fmt.Errorf("%s: %w", p.describe(), err)
			}
			continue
		}
		if err := r.apply(sctx, b); err != nil {
			return fmt.Errorf("%s: %w", r.describe(), err)
		}
	}
	beat := now.Sub(w.lastBeat) >= w.s.cfg.HeartbeatInterval
	if beat {
		if _, err := tx.StmtContext(sctx, w.beat).ExecContext(sctx, w.s.cfg.Node, now.UnixNano()); err != nil {
			return fmt.Errorf("heartbeat: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if beat {
		w.lastBeat = now
	}
	return nil
}

// committed accounts for pending having been committed and empties it.
func (w *writer) committed(ctx context.Context, start time.Time) {
	s := w.s
	now := time.Now()
	n := len(w.pending)
	s.written.Add(uint64(n))
	s.commits.Add(1)
	s.mu.Lock()
	s.commitAt = now
	s.mu.Unlock()
	if s.cfg.OnCommit != nil {
		oldest := now
		for _, r := range w.pending {
			if t := r.queuedAt(); t.Before(oldest) {
				oldest = t
			}
		}
		s.cfg.OnCommit(CommitInfo{Records: n, Duration: now.Sub(start), MaxWait: now.Sub(oldest)})
	}
	clear(w.pending)
	w.pending = w.pending[:0]
	s.pending.Store(0)
	w.committedHook(ctx)
}

// isolate commits the pending records one by one after a batch failed for a
// reason that is not transient. Rejected records are dropped and logged; on
// a transient error the rest stays pending.
func (w *writer) isolate(ctx context.Context, now time.Time) error {
	for i, r := range w.pending {
		err := w.apply(ctx, []record{r}, now)
		switch {
		case err == nil:
			w.s.written.Add(1)
			w.s.commits.Add(1)
		case transient(err):
			n := copy(w.pending, w.pending[i:])
			clear(w.pending[n:])
			w.pending = w.pending[:n]
			w.s.pending.Store(int64(n))
			return err
		default:
			w.s.drops.rejected.Add(1)
			w.s.log.Error("store: record rejected by the database, dropped",
				"record", r.describe(), "err", err)
		}
	}
	clear(w.pending)
	w.pending = w.pending[:0]
	w.s.pending.Store(0)
	w.committedHook(ctx)
	return nil
}

// recovered clears the degraded state after a successful write.
func (w *writer) recovered() {
	if !w.failing {
		return
	}
	w.failing = false
	w.backoff = 0
	w.retry.Stop()
	w.s.degraded.Store(false)
	w.s.log.Info("store: writes recovered",
		"degraded_for", time.Since(w.failSince).Round(time.Millisecond).String())
}

// fail records a transient write failure, degrades the store and arms the
// retry timer.
func (w *writer) fail(err error) {
	s := w.s
	now := time.Now()
	s.mu.Lock()
	s.lastErr, s.errAt = err.Error(), now
	s.mu.Unlock()
	if !w.failing {
		w.failing, w.failSince = true, now
		s.degraded.Store(true)
		w.lastErrLog = now
		s.log.Error("store: writes failing; history is degraded and records wait in memory",
			"err", err, "queued", len(w.pending)+len(s.queue))
	} else if now.Sub(w.lastErrLog) >= reportEvery {
		w.lastErrLog = now
		s.log.Error("store: writes still failing", "err", err,
			"for", now.Sub(w.failSince).Round(time.Second).String(),
			"queued", len(w.pending)+len(s.queue), "dropped", s.drops.total())
	}
	w.backoff = min(max(2*w.backoff, retryMin), retryMax)
	w.retry.Reset(w.backoff)
}

// report logs the records dropped since the last report, at most every
// reportEvery unless force is set.
func (w *writer) report(now time.Time, force bool) {
	d := &w.s.drops
	total := d.total()
	if total == w.droppedSeen || (!force && now.Sub(w.lastDropLog) < reportEvery) {
		return
	}
	w.s.log.Warn("store: records dropped, not written to history",
		"since_last_report", total-w.droppedSeen, "total", total,
		"queue_full", d.queueFull.Load(), "after_close", d.closed.Load(),
		"invalid", d.invalid.Load(), "rejected", d.rejected.Load(), "lost_at_close", d.lost.Load())
	w.droppedSeen, w.lastDropLog = total, now
}

// heartbeat records that the daemon is alive, unless a batch did recently.
func (w *writer) heartbeat(ctx context.Context) {
	now := time.Now()
	if now.Sub(w.lastBeat) < w.s.cfg.HeartbeatInterval {
		return
	}
	if err := w.heartbeatNow(ctx, now); err != nil {
		w.fail(err)
	}
}

func (w *writer) heartbeatNow(ctx context.Context, now time.Time) error {
	if _, err := w.beat.ExecContext(ctx, w.s.cfg.Node, now.UnixNano()); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	w.lastBeat = now
	w.s.commits.Add(1)
	w.committedHook(ctx)
	return nil
}

// committedHook runs after every successful write transaction: it wakes the
// checkpointer and, when the checkpointer has found the WAL long, finishes a
// checkpoint here. Under steady load the background checkpoint never
// catches the writer, so the WAL would only grow; a checkpoint on the
// writer's own connection between transactions completes (the background
// one has copied nearly everything already), which lets the next
// transaction restart the WAL from its beginning.
func (w *writer) committedHook(ctx context.Context) {
	ck := w.s.ckpt
	select {
	case ck.kick <- struct{}{}:
	default:
	}
	if !ck.long.Swap(false) {
		return
	}
	if _, err := w.s.wdb.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
		if now := time.Now(); now.Sub(w.lastCkptLog) >= reportEvery {
			w.lastCkptLog = now
			w.s.log.Warn("store: checkpoint failed", "err", err)
		}
	}
}

func (w *writer) prune(ctx context.Context) {
	more, err := w.s.pruneOnce(ctx, time.Now().Add(-w.s.cfg.Retention))
	if err != nil {
		// Retention is best effort: the next tick tries again.
		w.s.log.Warn("store: retention pass failed", "err", err)
		w.pruneMore = false
		return
	}
	w.pruneMore = more
}

// shutdown commits everything queued, retrying until ctx ends, writes a
// last heartbeat, checkpoints the WAL and closes the statements.
func (w *writer) shutdown(ctx context.Context) error {
	w.lastBeat = time.Time{} // the final batch carries a heartbeat
	var err error
	for {
		w.take(min(len(w.s.queue), w.maxPending()-len(w.pending)))
		if len(w.pending) == 0 {
			err = w.heartbeatNow(ctx, time.Now())
		} else {
			err = w.commit(ctx)
		}
		if err == nil && len(w.s.queue) > 0 {
			continue
		}
		if err == nil || ctx.Err() != nil {
			break
		}
		t := time.NewTimer(max(w.backoff, retryMin))
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	var errs []error
	if err != nil {
		lost := len(w.pending) + len(w.s.queue)
		w.s.drops.lost.Add(uint64(lost))
		errs = append(errs, fmt.Errorf("final flush: %d records not written: %w", lost, err))
	}
	w.report(time.Now(), true)
	if err == nil {
		// Fold the WAL into the database and truncate it, so a clean stop
		// leaves an empty -wal file.
		if _, cerr := w.s.wdb.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); cerr != nil {
			errs = append(errs, fmt.Errorf("checkpoint: %w", cerr))
		}
	}
	errs = append(errs, w.closeStmts())
	return errors.Join(errs...)
}
