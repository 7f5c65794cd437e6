package daemon

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/session"
)

func fakeConn(d *Daemon, path string, labels map[string]string) *conn {
	id := testIDs.newID(time.Now())
	return &conn{d: d, id: id, sid: id.String(), route: &route{Route: Route{Path: path}}, labels: labels, remoteAddr: "127.0.0.1:1"}
}

func TestHub(t *testing.T) {
	h := newHub()
	var cs []*conn
	for i := range 300 {
		c := fakeConn(nil, "/r", map[string]string{"n": fmt.Sprint(i % 3)})
		cs = append(cs, c)
		if !h.add(c) {
			t.Fatal("add failed")
		}
	}
	if got, ok := h.get(cs[7].id); !ok || got != cs[7] {
		t.Fatal("get")
	}
	sel, _ := session.ParseSelector("n=1")
	n := 0
	h.each(&sel, func(*conn) bool { n++; return true })
	if n != 100 {
		t.Fatalf("selected %d, want 100", n)
	}
	// Pages in id order, with a cursor.
	var seen []*conn
	var after ID
	for {
		page, more := h.selectSorted(nil, after, 64)
		seen = append(seen, page...)
		if !more {
			break
		}
		after = page[len(page)-1].id
	}
	if len(seen) != 300 {
		t.Fatalf("paged %d", len(seen))
	}
	for i := range seen {
		if seen[i] != cs[i] {
			t.Fatalf("page order differs at %d", i)
		}
	}
	h.remove(cs[7])
	h.remove(cs[7])
	if _, ok := h.get(cs[7].id); ok || h.count.Load() != 299 {
		t.Fatal("remove")
	}
	h.close()
	if h.add(fakeConn(nil, "/", nil)) {
		t.Fatal("add after close succeeded")
	}
}

// TestHubConcurrent runs adds, removes, lookups and walks at once (for the
// race detector): no operation holds a global lock.
func TestHubConcurrent(t *testing.T) {
	h := newHub()
	var adders, wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		adders.Go(func() {
			for range 2000 {
				c := fakeConn(nil, "/", nil)
				h.add(c)
				h.get(c.id)
				h.remove(c)
			}
		})
	}
	// The walkers walk for as long as the adders work.
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				h.each(nil, func(c *conn) bool { _ = c.id; return true })
				h.selectSorted(nil, ID{}, 10)
			}
		})
	}
	adders.Wait()
	close(stop)
	wg.Wait()
	if h.count.Load() != 0 {
		t.Fatalf("count %d after balanced adds and removes", h.count.Load())
	}
}
