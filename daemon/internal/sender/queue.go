package sender

import (
	"slices"

	"github.com/wsd-dev/wsd/protocol"
)

// kindPing is the item kind of a keepalive ping; messages are of their
// protocol.MessageType.
const kindPing protocol.MessageType = 100

// item is one queued message. data is never modified after it is queued,
// so one slice is shared by every connection a broadcast reaches; pm, when
// set, is that message framed (and compressed) once for all of them.
type item struct {
	kind protocol.MessageType
	data []byte
	pm   *protocol.PreparedMessage
	at   int64 // enqueue time, unix nanoseconds
}

// queue is a FIFO of items that keeps no storage while empty. Guarded by
// Sender.mu.
type queue struct {
	items []item
	head  int
	bytes int // data bytes queued, being written or held (Sender.held)
}

func (q *queue) len() int { return len(q.items) - q.head }

func (q *queue) push(it item) {
	if q.head > 0 && len(q.items) == cap(q.items) {
		// Reuse the space already consumed instead of growing.
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	q.items = append(q.items, it)
}

// pushFront puts an item back at the head of the queue.
func (q *queue) pushFront(it item) {
	if q.head > 0 {
		q.head--
		q.items[q.head] = it
		return
	}
	q.items = slices.Insert(q.items, 0, it)
}

func (q *queue) pop() (item, bool) {
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
func (q *queue) reset() {
	q.items, q.head = nil, 0
}

// oldest returns the enqueue time of the oldest queued item, or 0.
func (q *queue) oldest() int64 {
	if q.head == len(q.items) {
		return 0
	}
	return q.items[q.head].at
}
