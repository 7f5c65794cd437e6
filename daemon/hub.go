package daemon

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/wsd-dev/wsd/session"
)

// hubShards is the number of registry shards (centrifuge uses 64): enough
// that adds and removes on different connections rarely meet on a lock.
const hubShards = 64

// hub is the registry of live connections, sharded by the random bits of
// the connection id. No operation takes more than one shard lock at a time,
// and none holds a shard lock while doing I/O or calling out: iterations
// copy a shard's connections under its read lock and act after unlocking.
type hub struct {
	shards [hubShards]hubShard
	count  atomic.Int64
	// closed is set (under every shard lock in turn) when the daemon
	// drains: add fails from then on, so a drain that walked the shards
	// after setting it has seen every connection.
	closed atomic.Bool
}

type hubShard struct {
	mu    sync.RWMutex
	conns map[ID]*conn
	_     [40]byte // keep shards on separate cache lines
}

func newHub() *hub {
	h := &hub{}
	for i := range h.shards {
		h.shards[i].conns = make(map[ID]*conn)
	}
	return h
}

func (h *hub) shard(id ID) *hubShard { return &h.shards[id[15]%hubShards] }

// add registers c; it fails once the hub is closed (draining).
func (h *hub) add(c *conn) bool {
	s := h.shard(c.id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if h.closed.Load() {
		return false
	}
	s.conns[c.id] = c
	h.count.Add(1)
	return true
}

// remove unregisters c if it is registered.
func (h *hub) remove(c *conn) {
	s := h.shard(c.id)
	s.mu.Lock()
	if s.conns[c.id] == c {
		delete(s.conns, c.id)
		h.count.Add(-1)
	}
	s.mu.Unlock()
}

// get returns the connection with that id.
func (h *hub) get(id ID) (*conn, bool) {
	s := h.shard(id)
	s.mu.RLock()
	c, ok := s.conns[id]
	s.mu.RUnlock()
	return c, ok
}

// close makes further adds fail. The flag is set with every shard locked,
// so each shard's later snapshots see every connection added before it.
func (h *hub) close() {
	for i := range h.shards {
		h.shards[i].mu.Lock()
	}
	h.closed.Store(true)
	for i := range h.shards {
		h.shards[i].mu.Unlock()
	}
}

// each calls fn for every connection matching sel (nil: all), one shard at
// a time, without holding any lock while fn runs. buf is scratch space
// reused across shards; fn returning false stops the walk.
func (h *hub) each(sel *session.Selector, fn func(*conn) bool) {
	var buf []*conn
	for i := range h.shards {
		buf = h.shards[i].snapshot(buf[:0], sel)
		for _, c := range buf {
			if !fn(c) {
				return
			}
		}
	}
}

// eachParallel calls fn for every connection matching sel on workers
// goroutines (the caller's among them), worker w walking shards w,
// w+workers, ...; it returns when all are done. No lock is held while fn
// runs.
func (h *hub) eachParallel(sel *session.Selector, workers int, fn func(w int, c *conn)) {
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		wg.Go(func() { h.eachOf(sel, w, workers, fn) })
	}
	h.eachOf(sel, 0, workers, fn)
	wg.Wait()
}

func (h *hub) eachOf(sel *session.Selector, w, workers int, fn func(w int, c *conn)) {
	var buf []*conn
	for i := w; i < hubShards; i += workers {
		buf = h.shards[i].snapshot(buf[:0], sel)
		for _, c := range buf {
			fn(w, c)
		}
	}
}

// snapshot appends the shard's connections matching sel to dst.
func (s *hubShard) snapshot(dst []*conn, sel *session.Selector) []*conn {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, c := range s.conns {
		if sel == nil || sel.Match(c) {
			dst = append(dst, c)
		}
	}
	return dst
}

// selectSorted returns the connections matching sel with ids after the
// cursor, in id (that is, connection time) order, at most limit of them
// (limit ≤ 0: all), and whether more remain.
func (h *hub) selectSorted(sel *session.Selector, after ID, limit int) ([]*conn, bool) {
	var all []*conn
	for i := range h.shards {
		all = h.shards[i].snapshot(all, sel)
	}
	if after != (ID{}) {
		all = slices.DeleteFunc(all, func(c *conn) bool { return compareID(c.id, after) <= 0 })
	}
	slices.SortFunc(all, func(a, b *conn) int { return compareID(a.id, b.id) })
	if limit > 0 && len(all) > limit {
		return all[:limit], true
	}
	return all, false
}

func compareID(a, b ID) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}
