package daemon

import (
	"context"
	"encoding/binary"
	"errors"
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

func (c *conn) enqueueItem(it item) sendResult {
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
	c.q.push(it)
	if kind != itemPing {
		c.q.bytes += len(data)
	}
	start := !c.q.busy
	if start {
		c.q.busy = true
		c.wg.Add(1)
	}
	c.mu.Unlock()
	if start {
		go c.writeLoop()
	}
	return sendQueued
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

// writeItem writes one item. The write deadline bounds each write.
func (c *conn) writeItem(it item) error {
	if it.kind == itemPing {
		var p [8]byte
		binary.BigEndian.PutUint64(p[:], uint64(it.at))
		if err := c.setWriteDeadline(); err != nil {
			return err
		}
		return c.ws.Ping(context.Background(), p[:])
	}
	if it.pm != nil {
		if err := c.setWriteDeadline(); err != nil {
			return err
		}
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
	if err := c.setWriteDeadline(); err != nil {
		return err
	}
	if err := c.ws.Write(context.Background(), protocol.MessageType(kind), p); err != nil {
		return err
	}
	c.msgsOut.Add(1)
	c.bytesOut.Add(uint64(len(p)))
	return nil
}

// setWriteDeadline makes sure the next write has between half and all of
// WriteTimeout: the deadline is moved only when less than half is left,
// which spares a timer update per message on busy connections. Only the
// owner of the connection's writes (q.busy) calls it.
func (c *conn) setWriteDeadline() error {
	wt := int64(c.d.config().WriteTimeout)
	now := time.Now().UnixNano()
	if c.wdl-now > wt/2 {
		return nil
	}
	c.wdl = now + wt
	return c.ws.SetWriteDeadline(time.Unix(0, c.wdl))
}

func clone(p []byte) []byte {
	if len(p) == 0 {
		return nil
	}
	return append([]byte(nil), p...)
}
