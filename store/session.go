package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/wsd-dev/wsd/session"
)

// CrashCloseCode is the close code crash recovery records with
// session.ClosedByCrash (1006, abnormal closure: no close frame was seen).
const CrashCloseCode = 1006

// RecordOpen queues the row of a new session for the writer. It never
// blocks: if the queue is full or the store is closed the record is dropped
// and counted (Health.Dropped), and the writer logs the count. A record
// without an ID is dropped too; a zero ConnectedAt is the time of the call.
// o.Labels is encoded during the call and not retained. Client-supplied
// fields longer than the Max* limits are stored truncated (see
// TruncationMark), so no client can grow a row past MaxRowBytes.
func (s *Store) RecordOpen(o session.Open) {
	if o.ID == "" {
		s.drops.invalid.Add(1)
		return
	}
	o = boundOpen(o)
	if o.ConnectedAt.IsZero() {
		o.ConnectedAt = time.Now()
	}
	labels, err := encodeLabels(o.Labels)
	if err != nil {
		s.drops.invalid.Add(1)
		return
	}
	s.enqueue(&openRecord{Open: o, labels: labels, queued: time.Now()})
}

// RecordClose queues the completion of a session. It never blocks (see
// RecordOpen). A close may be recorded before its open is committed, or
// without any open at all; the row is then created from the close alone and
// completed if the open arrives later. A zero ClosedAt is the time of the
// call; a zero CloseCode is stored as no code (NULL). CloseReason and Error
// are truncated like RecordOpen's fields. BlackBox is encoded during the
// call (its last session.MaxBlackBoxFrames frames) and not retained.
func (s *Store) RecordClose(c session.Close) {
	if c.ID == "" {
		s.drops.invalid.Add(1)
		return
	}
	c = boundClose(c)
	if c.ClosedAt.IsZero() {
		c.ClosedAt = time.Now()
	}
	box := encodeBlackBox(c.BlackBox)
	c.BlackBox = nil // not retained: the writer needs only box
	s.enqueue(&closeRecord{Close: c, box: box, queued: time.Now()})
}

// encodeLabels returns m as the JSON object the labels column holds,
// bounded by the Max*Label* limits: when m does not fit, labels are
// truncated and then dropped from the end, in key order, until it does.
func encodeLabels(m map[string]string) (string, error) {
	if len(m) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encode labels: %w", err)
	}
	if len(b) <= MaxLabelsBytes && labelsFit(m) {
		return string(b), nil
	}
	// Only a hostile client gets here. Values full of characters JSON
	// escapes may need labels dropped; at max 1 the map holds only the
	// marker (or one bounded label), which fits.
	for max := min(len(m), MaxLabels); ; max-- {
		b, err := json.Marshal(boundLabels(m, max))
		if err != nil {
			return "", fmt.Errorf("encode labels: %w", err)
		}
		if len(b) <= MaxLabelsBytes || max == 1 {
			return string(b), nil
		}
	}
}

type openRecord struct {
	session.Open
	labels string
	queued time.Time
}

func (r *openRecord) queuedAt() time.Time { return r.queued }
func (r *openRecord) describe() string    { return "session open " + r.ID }

func (r *openRecord) apply(ctx context.Context, b *batch) error {
	_, err := b.open.ExecContext(ctx,
		r.ID, r.Route, r.RemoteAddr, r.User, r.labels, r.Origin, r.UserAgent,
		r.Subprotocol, r.Extensions, r.ConnectedAt.UnixNano(), b.node, r.TraceID)
	return err
}

type closeRecord struct {
	session.Close
	box    []byte // the black_box column; nil (NULL) for none
	queued time.Time
}

func (r *closeRecord) queuedAt() time.Time { return r.queued }
func (r *closeRecord) describe() string    { return "session close " + r.ID }

// code is the close_code column: NULL when no code was recorded.
func (r *closeRecord) code() any {
	if r.CloseCode == 0 {
		return nil
	}
	return int64(r.CloseCode)
}

// blackBox is the black_box column: NULL when the close has none.
func (r *closeRecord) blackBox() any {
	if r.box == nil {
		return nil
	}
	return r.box
}

func (r *closeRecord) apply(ctx context.Context, b *batch) error {
	args := []any{r.ID, r.ClosedAt.UnixNano(), r.code(), r.CloseReason, string(r.ClosedBy),
		r.Error, r.MessagesIn, r.MessagesOut, r.BytesIn, r.BytesOut, r.blackBox(), b.node}
	// Nearly always the open is already there, and a plain UPDATE costs
	// about a third less than the upsert; the upsert covers the rest.
	res, err := b.closeUpdate.ExecContext(ctx, args[:11]...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}
	_, err = b.close.ExecContext(ctx, args...)
	return err
}

// openCloseRecord is an open and its close taken from the same batch and
// written together as one row (see sessionPairs). It is not queued.
type openCloseRecord struct {
	open  *openRecord
	close *closeRecord
}

func (r openCloseRecord) describe() string { return "session open and close " + r.open.ID }

func (r openCloseRecord) apply(ctx context.Context, b *batch) error {
	o, c := r.open, r.close
	_, err := b.openClose.ExecContext(ctx,
		o.ID, o.Route, o.RemoteAddr, o.User, o.labels, o.Origin, o.UserAgent,
		o.Subprotocol, o.Extensions, o.ConnectedAt.UnixNano(),
		c.ClosedAt.UnixNano(), c.code(), c.CloseReason, string(c.ClosedBy), c.Error,
		c.MessagesIn, c.MessagesOut, c.BytesIn, c.BytesOut, b.node, o.TraceID, c.blackBox())
	return err
}

// sessionPairs finds the sessions whose open and close are in the same
// batch, so that each is written with one statement (sqlUpsertSession)
// instead of an insert and then an update of the same row. Under connection
// churn that is most sessions. Its map and slice are kept from one batch to
// the next, so a batch costs no allocation.
//
// A close is paired with the latest open of its session before it, unless
// another close of that session comes between them. So no record of that
// session lies between the two, and writing the open at the place of its
// close changes nothing another record sees. The open's upsert sets every
// open column and node and the close's update every close column, whether or
// not the row existed, which is what the combined upsert does too: the row
// comes out the same, column for column. Every other record, including any
// further open or close of the session, is written as before, in order.
type sessionPairs struct {
	open  map[string]int32 // session id -> index of its latest open not yet paired
	mate  []int32          // per record: the index of the record it is written with, or -1
	reuse int              // the map is kept only after batches of at most this many records
}

// find returns, for each record of recs, the index of the record it is
// written with: for an open, the later index of its close (the open is not
// written on its own); for a close, the earlier index of its open; -1 for
// every other record. It returns nil when recs holds no pair. The result is
// valid until the next call.
func (p *sessionPairs) find(recs []record) []int32 {
	if len(recs) < 2 {
		return nil
	}
	if p.open == nil {
		p.open = make(map[string]int32)
	}
	if cap(p.mate) < len(recs) {
		p.mate = make([]int32, len(recs))
	}
	mate := p.mate[:len(recs)]
	pairs := 0
	for i, r := range recs {
		mate[i] = -1
		switch r := r.(type) {
		case *openRecord:
			p.open[r.ID] = int32(i)
		case *closeRecord:
			if o, ok := p.open[r.ID]; ok {
				mate[o], mate[i] = int32(i), o
				delete(p.open, r.ID)
				pairs++
			}
		}
	}
	// Clearing a map costs its capacity: one grown by a rare huge batch (a
	// flush after writes failed for a while) is let go instead.
	if len(recs) > p.reuse {
		p.open = nil
	} else {
		clear(p.open)
	}
	if pairs == 0 {
		return nil
	}
	return mate
}

// The upserts let an open and its close arrive in either order, in one batch
// or in different ones; replaying either is harmless.
const (
	sqlUpsertOpen = `INSERT INTO sessions
	(id, route, remote_addr, user, labels, origin, user_agent, subprotocol, extensions, connected_at, node,
	 trace_id)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (id) DO UPDATE SET
		route = excluded.route, remote_addr = excluded.remote_addr, user = excluded.user,
		labels = excluded.labels, origin = excluded.origin, user_agent = excluded.user_agent,
		subprotocol = excluded.subprotocol, extensions = excluded.extensions,
		connected_at = excluded.connected_at, node = excluded.node, trace_id = excluded.trace_id`

	sqlUpdateClose = `UPDATE sessions SET
		closed_at = ?2, close_code = ?3, close_reason = ?4, closed_by = ?5, error = ?6,
		messages_in = ?7, messages_out = ?8, bytes_in = ?9, bytes_out = ?10, black_box = ?11
	WHERE id = ?1`

	// A close without its open gets connected_at = closed_at until the open
	// arrives.
	sqlUpsertClose = `INSERT INTO sessions
	(id, connected_at, closed_at, close_code, close_reason, closed_by, error,
	 messages_in, messages_out, bytes_in, bytes_out, black_box, node)
	VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
	ON CONFLICT (id) DO UPDATE SET
		closed_at = excluded.closed_at, close_code = excluded.close_code,
		close_reason = excluded.close_reason, closed_by = excluded.closed_by,
		error = excluded.error, messages_in = excluded.messages_in,
		messages_out = excluded.messages_out, bytes_in = excluded.bytes_in,
		bytes_out = excluded.bytes_out, black_box = excluded.black_box`

	// An open and its close from the same batch, as one row. On a conflict
	// (a replay, or a row an earlier batch created from the close alone)
	// every column is set, as the open's upsert and then the close's update
	// would.
	sqlUpsertSession = `INSERT INTO sessions
	(id, route, remote_addr, user, labels, origin, user_agent, subprotocol, extensions, connected_at,
	 closed_at, close_code, close_reason, closed_by, error,
	 messages_in, messages_out, bytes_in, bytes_out, node, trace_id, black_box)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (id) DO UPDATE SET
		route = excluded.route, remote_addr = excluded.remote_addr, user = excluded.user,
		labels = excluded.labels, origin = excluded.origin, user_agent = excluded.user_agent,
		subprotocol = excluded.subprotocol, extensions = excluded.extensions,
		connected_at = excluded.connected_at,
		closed_at = excluded.closed_at, close_code = excluded.close_code,
		close_reason = excluded.close_reason, closed_by = excluded.closed_by,
		error = excluded.error, messages_in = excluded.messages_in,
		messages_out = excluded.messages_out, bytes_in = excluded.bytes_in,
		bytes_out = excluded.bytes_out, node = excluded.node,
		trace_id = excluded.trace_id, black_box = excluded.black_box`
)
