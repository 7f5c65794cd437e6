package daemon

import (
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"time"

	"github.com/wsd-dev/wsd/protocol"
)

// The write path. Every connection has a send queue bounded in bytes. Only
// while it is non-empty does a writer goroutine exist for the connection:
// the enqueue that finds no writer starts one, and the writer exits when it
// empties the queue. Enqueueing never blocks: a message that would take the
// queue past Config.SendQueueBytes is dropped and the connection is closed
// as a slow consumer (1008), so one slow client never holds up a broadcast
// or anybody else.
//
// A handler answering on the connection's own reading goroutine (echo) may
// write inline instead (reply): when the queue is empty and no writer is
// running it writes directly, which saves the goroutine hand-off; a client
// that does not read then stalls only its own reading, up to WriteTimeout.
//
// A broadcast writes inline too (sendPrepared), but never waits: when no
// writer is running it writes the prepared frame with one non-blocking
// system call (lazyWriter.beginNB/endNB). What the socket does not take
// stays in the lazyWriter, first in line, and a writer goroutine is started
// to finish it (blocking, under the write deadline) before anything queued.
// Whoever owns the writes (q.busy) is the only one writing messages; the
// broadcaster owns them for the length of its attempt.

// itemKind is what a queue item asks the writer to do.
type itemKind uint8

const (
	itemText itemKind = itemKind(protocol.TextMessage)
	itemBin  itemKind = itemKind(protocol.BinaryMessage)
	itemPing itemKind = 100
)

// item is one queued message. data is never modified after it is queued,
// so one slice is shared by every connection a broadcast reaches; pm, when
// set, is that message framed (and compressed) once for all of them.
type item struct {
	kind itemKind
	data []byte
	pm   *protocol.PreparedMessage
	at   int64 // enqueue time, unix nanoseconds
}

// sendQueue is a FIFO of items. Guarded by conn.mu.
type sendQueue struct {
	items []item
	head  int
	bytes int  // data bytes queued or being written
	busy  bool // a writer (goroutine or inline) owns the connection's writes
}

func (q *sendQueue) len() int { return len(q.items) - q.head }

func (q *sendQueue) push(it item) {
	if q.head > 0 && len(q.items) == cap(q.items) {
		// Reuse the space already consumed instead of growing.
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	q.items = append(q.items, it)
}

// pushFront puts an item back at the head of the queue.
func (q *sendQueue) pushFront(it item) {
	if q.head > 0 {
		q.head--
		q.items[q.head] = it
		return
	}
	q.items = slices.Insert(q.items, 0, it)
}

func (q *sendQueue) pop() (item, bool) {
	if q.head == len(q.items) {
		return item{}, false
	}
	it := q.items[q.head]
	q.items[q.head] = item{}
	q.head++
	if q.head == len(q.items) {
		q.reset()
	}
	return it, true
}

// reset empties the queue and releases its memory: an idle connection
// keeps no queue storage.
func (q *sendQueue) reset() {
	q.items, q.head = nil, 0
}

// oldest returns the enqueue time of the oldest queued item, or 0.
func (q *sendQueue) oldest() int64 {
	if q.head == len(q.items) {
		return 0
	}
	return q.items[q.head].at
}

// sendResult is the outcome of one enqueue.
type sendResult uint8

const (
	sendQueued  sendResult = iota
	sendClosing            // the connection is closing: dropped
	sendSlow               // over the byte limit: dropped, connection closed as slow consumer
)

// enqueue queues a message without blocking. data must not be modified
// afterwards.
func (c *conn) enqueue(kind itemKind, data []byte, now time.Time) sendResult {
	return c.enqueueItem(item{kind: kind, data: data, at: now.UnixNano()})
}

// enqueuePrepared queues a message prepared for many connections.
func (c *conn) enqueuePrepared(kind itemKind, data []byte, pm *protocol.PreparedMessage, now time.Time) sendResult {
	return c.enqueueItem(item{kind: kind, data: data, pm: pm, at: now.UnixNano()})
}

// sendPrepared sends a message prepared for many connections (a
// broadcast): inline, without ever waiting, when nothing else is being
// written to the connection, else through the queue. Like enqueue, it never
// blocks; the result is the same as enqueue's would be.
func (c *conn) sendPrepared(kind itemKind, data []byte, pm *protocol.PreparedMessage, now time.Time) sendResult {
	return c.sendItem(item{kind: kind, data: data, pm: pm, at: now.UnixNano()}, true)
}

// sendPing sends a keepalive ping stamped with now: inline, without ever
// waiting, like sendPrepared, so that pinging an idle connection starts no
// writer goroutine.
func (c *conn) sendPing(now time.Time) sendResult {
	return c.sendItem(item{kind: itemPing, at: now.UnixNano()}, true)
}

func (c *conn) enqueueItem(it item) sendResult { return c.sendItem(it, false) }

// sendItem queues it, or with inline set writes it inline (writeInline)
// when no writer owns the connection and its socket allows non-blocking
// writes (not TLS).
func (c *conn) sendItem(it item, inline bool) sendResult {
	kind, data := it.kind, it.data
	limit := c.d.config().SendQueueBytes
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		c.d.met.dropped(dropClosing, 1)
		return sendClosing
	}
	if kind != itemPing && c.q.bytes+len(data) > limit {
		c.mu.Unlock()
		c.d.met.dropped(dropSlow, 1)
		c.d.stats.slowConsumers.Add(1)
		c.initClose(closeCause{
			by:     ClosedBySlowConsumer,
			code:   int(protocol.StatusPolicyViolation),
			reason: "slow consumer",
			err:    "send queue would exceed send-queue-bytes",
		})
		return sendSlow
	}
	if kind != itemPing {
		c.q.bytes += len(data)
	}
	start := !c.q.busy
	if start {
		c.q.busy = true
		c.wg.Add(1)
		if inline && c.lw.rc != nil && c.q.len() == 0 {
			c.mu.Unlock()
			c.writeInline(it)
			return sendQueued
		}
	}
	c.q.push(it)
	c.mu.Unlock()
	if start {
		go c.writeLoop()
	}
	return sendQueued
}

// testHookInline, set by tests before any daemon starts, sees the outcome
// of every inline write.
var testHookInline func(wrote, left bool, err error)

// writeInline writes a prepared message or a ping on the sender's goroutine without
// waiting: for a lock another writer holds (a pong or close frame blocked on
// a full socket), nor for the socket. It is called with q.busy taken, its
// bytes counted in q.bytes and c.wg.Add(1) done, all of which it hands to
// a writer goroutine when one must finish the job: when the message could
// not be written (then it goes back to the head of the queue), when the
// socket did not take all of it (the writer sends the rest first), or when
// messages were queued meanwhile.
func (c *conn) writeInline(it item) {
	n := len(it.data)
	wrote, left := false, false
	var err error
	if c.lw.beginNB() {
		if it.kind == itemPing {
			p := pingPayload(it.at)
			wrote, err = c.ws.TryPing(p[:])
		} else {
			wrote, err = c.ws.TryWritePrepared(it.pm)
		}
		var ferr error
		left, ferr = c.lw.endNB()
		if wrote && err == nil && it.kind != itemPing {
			c.msgsOut.Add(1)
			c.bytesOut.Add(uint64(n))
		}
		if err == nil {
			err = ferr
		}
	}
	if testHookInline != nil {
		testHookInline(wrote, left, err)
	}
	c.mu.Lock()
	start := false
	switch {
	case err != nil:
		if !c.closing {
			c.q.bytes -= n
		}
		c.q.busy = false
	case c.closing:
		// discardQueue has zeroed q.bytes.
		if !wrote {
			c.d.met.dropped(dropDiscarded, 1) // as if discarded from the queue
		}
		if left {
			// What the socket did not take may end with the close
			// frame, written into our batch meanwhile: it must go out.
			c.rem = true
			start = true
		} else {
			c.q.busy = false
		}
	case !wrote:
		// Another writer was busy. The message goes first in line, its
		// bytes still counted, after whatever the lazyWriter still holds
		// (frames the other writer put in our batch).
		c.q.pushFront(it)
		c.rem = left
		start = true
	case left:
		// The frame's tail is held: its bytes count until it is out.
		c.held, c.rem = n, true
		start = true
	default:
		c.q.bytes -= n
		start = c.q.len() > 0 // queued meanwhile: hand them to a writer
		if !start {
			c.q.busy = false
		}
	}
	c.mu.Unlock()
	if err != nil {
		c.wg.Done()
		c.writeFailed(err)
		return
	}
	if start {
		go c.writeLoop() // takes over the wg count
		return
	}
	c.wg.Done()
}

// reply sends a message from the connection's reading goroutine: inline
// when nothing else is being written, else through the queue (p is then
// copied).
func (c *conn) reply(typ protocol.MessageType, p []byte) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	if c.q.busy {
		c.mu.Unlock()
		c.enqueue(itemKind(typ), clone(p), time.Now())
		return
	}
	c.q.busy = true
	c.q.bytes += len(p)
	c.mu.Unlock()

	c.lw.begin()
	err := c.writeMessage(itemKind(typ), p)
	if ferr := c.lw.end(); err == nil {
		err = ferr
	}
	c.mu.Lock()
	c.q.bytes -= len(p)
	start := false
	if err == nil && !c.closing && c.q.len() > 0 {
		start = true // messages queued meanwhile: hand them to a writer
		c.wg.Add(1)
	} else {
		c.q.busy = false
	}
	c.mu.Unlock()
	if err != nil {
		c.writeFailed(err)
		return
	}
	if start {
		go c.writeLoop()
	}
}

// batchLimit is how many bytes the writer accumulates before writing them
// out even though more items are queued.
const batchLimit = chunkSize

// writeLoop writes queued items until the queue is empty, then exits. It is
// started with c.wg.Add(1) and q.busy set. Items are batched: what the
// protocol writes goes into one pooled chunk and out in one system call
// when the queue runs dry or the chunk fills.
func (c *conn) writeLoop() {
	defer c.wg.Done()
	if c.rem {
		// An inline write left bytes in the lazyWriter: they go first
		// (unless a control frame written meanwhile already took them).
		err := c.lw.flush()
		c.mu.Lock()
		if !c.closing {
			c.q.bytes -= c.held
		}
		c.held, c.rem = 0, false
		if err != nil {
			c.q.busy = false
		}
		c.mu.Unlock()
		if err != nil {
			c.writeFailed(err)
			return
		}
	}
	c.lw.begin()
	for {
		c.mu.Lock()
		it, ok := c.q.pop()
		if c.closing {
			c.discardQueue()
			ok = false
		}
		if !ok {
			c.mu.Unlock()
			err := c.lw.end()
			c.mu.Lock()
			if err == nil && !c.closing && c.q.len() > 0 {
				// Queued while we flushed: keep going.
				c.mu.Unlock()
				c.lw.begin()
				continue
			}
			c.q.busy = false
			c.mu.Unlock()
			if err != nil {
				c.writeFailed(err)
			}
			return
		}
		c.mu.Unlock()
		err := c.writeItem(it)
		if err == nil && c.lw.pending() >= batchLimit {
			err = c.lw.end()
			c.lw.begin()
		}
		c.mu.Lock()
		if it.kind != itemPing {
			c.q.bytes -= len(it.data)
		}
		if err != nil {
			c.q.busy = false
		}
		c.mu.Unlock()
		if err != nil {
			// What the batch still holds cannot be delivered either.
			c.writeFailed(errors.Join(err, c.lw.end()))
			return
		}
	}
}

// writeItem writes one item. The write deadline (lazyWriter) bounds each write.
func (c *conn) writeItem(it item) error {
	if it.kind == itemPing {
		p := pingPayload(it.at)
		return c.ws.Ping(context.Background(), p[:])
	}
	if it.pm != nil {
		if err := c.ws.WritePrepared(context.Background(), it.pm); err != nil {
			return err
		}
		c.msgsOut.Add(1)
		c.bytesOut.Add(uint64(len(it.data)))
		return nil
	}
	return c.writeMessage(it.kind, it.data)
}

func (c *conn) writeMessage(kind itemKind, p []byte) error {
	if err := c.ws.Write(context.Background(), protocol.MessageType(kind), p); err != nil {
		return err
	}
	c.msgsOut.Add(1)
	c.bytesOut.Add(uint64(len(p)))
	return nil
}

// pingPayload is a keepalive ping's payload: when it was sent, so that its
// pong measures the round trip (conn.onPong).
func pingPayload(at int64) [8]byte {
	var p [8]byte
	binary.BigEndian.PutUint64(p[:], uint64(at))
	return p
}

func clone(p []byte) []byte {
	if len(p) == 0 {
		return nil
	}
	return append([]byte(nil), p...)
}
