package admin

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/wsd-dev/wsd/session"
)

// DefaultEventJournal is how many recent events /v1/events keeps for
// clients that reconnect with Last-Event-ID.
const DefaultEventJournal = 4096

// journal numbers the connection events of the Hub and keeps the latest
// of them, so that every /v1/events stream reads the same sequence and a
// client that reconnects with Last-Event-ID gets the events it missed, as
// long as the journal still holds them. One watch of the Hub feeds it,
// started with the first stream and ended by Shutdown; streams never slow
// it down (each reads at its own pace and is told what it lost).
type journal struct {
	epoch string // this process's, so an id from a previous one is not taken for ours

	startOnce sync.Once
	ready     chan struct{} // closed once the watch is subscribed, or failed
	err       error         // why the watch could not start; set before ready closes

	mu      sync.Mutex
	ring    []session.Event // ring[(seq-1)%len(ring)] holds event seq
	next    uint64          // seq of the next event; events are numbered from 1
	changed chan struct{}   // closed and replaced at every append
	ended   bool            // the watch has ended: no more events
}

func newJournal(size int, epoch string) *journal {
	return &journal{epoch: epoch, ring: make([]session.Event, size), next: 1,
		ready: make(chan struct{}), changed: make(chan struct{})}
}

// start begins the Hub watch once, bounded by life, and waits until it is
// subscribed (every later event reaches the journal) or failed.
func (j *journal) start(life context.Context, hub Hub, buffer int) error {
	j.startOnce.Do(func() {
		go func() {
			subscribed := func() { close(j.ready) }
			err := hub.WatchSubscribed(life, buffer, subscribed, func(ev session.Event) bool {
				j.append(ev)
				return true
			})
			select {
			case <-j.ready:
			default: // failed before subscribing
				j.err = fmt.Errorf("watch events: %w", err)
				close(j.ready)
			}
			j.mu.Lock()
			j.ended = true
			close(j.changed)
			j.mu.Unlock()
		}()
	})
	<-j.ready
	return j.err
}

func (j *journal) append(ev session.Event) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.ring[(j.next-1)%uint64(len(j.ring))] = ev
	j.next++
	close(j.changed)
	j.changed = make(chan struct{})
}

// head returns the seq of the latest event (0 before the first).
func (j *journal) head() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.next - 1
}

// since returns the events after seq after (at most max), the seq of the
// last one returned, how many after it the journal no longer holds (lost
// to a reader that fell behind), a channel closed at the next append, and
// whether the journal has ended.
func (j *journal) since(after uint64, max int) (evs []session.Event, last, gap uint64, changed <-chan struct{}, ended bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	last = after
	if oldest := j.oldest(); after+1 < oldest {
		gap = oldest - (after + 1)
		last = oldest - 1
	}
	for seq := last + 1; seq < j.next && len(evs) < max; seq++ {
		evs = append(evs, j.ring[(seq-1)%uint64(len(j.ring))])
		last = seq
	}
	return evs, last, gap, j.changed, j.ended && last+1 >= j.next
}

func (j *journal) oldest() uint64 {
	if n := uint64(len(j.ring)); j.next > n {
		return j.next - n
	}
	return 1
}

// id is the SSE id of event seq.
func (j *journal) id(seq uint64) string { return j.epoch + "-" + strconv.FormatUint(seq, 10) }

// resume returns the seq after which a stream that last saw id goes on:
// id's seq when id is this process's and not in the future, else the head
// (a client of a previous process starts from now).
func (j *journal) resume(id string) (uint64, bool) {
	head := j.head()
	epoch, n, ok := strings.Cut(id, "-")
	if !ok || epoch != j.epoch {
		return head, false
	}
	seq, err := strconv.ParseUint(n, 10, 64)
	if err != nil || seq > head {
		return head, false
	}
	return seq, true
}
