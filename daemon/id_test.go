package daemon

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/session"
)

// testIDs makes ids for tests.
var testIDs idGen

func TestIDsSortAndAreUnique(t *testing.T) {
	const goroutines, each = 8, 2000
	var mu sync.Mutex
	var all []string
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			local := make([]string, 0, each)
			for range each {
				local = append(local, testIDs.newID(time.Now()).String())
			}
			if !slices.IsSorted(local) {
				t.Error("ids made by one goroutine are not increasing")
			}
			mu.Lock()
			all = append(all, local...)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(all)
	if len(slices.Compact(all)) != goroutines*each {
		t.Fatal("duplicate ids")
	}
}

func TestIDFormat(t *testing.T) {
	now := time.UnixMilli(1_750_000_000_123)
	id := testIDs.newID(now)
	s := id.String()
	if len(s) != 36 || s[14] != '7' || !strings8(s[19]) {
		t.Fatalf("not a UUIDv7: %s", s)
	}
	if !id.Time().Equal(now) && id.Time().Before(now) {
		t.Fatalf("time %v, want ≥ %v", id.Time(), now)
	}
	back, err := ParseID(s)
	if err != nil || back != id {
		t.Fatalf("ParseID(%s) = %v, %v", s, back, err)
	}
	for _, bad := range []string{"", "x", s[:35], s + "0", "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5g", "0190a1b2c3d4-7e5f-8a9b-0c1d2e3f4a5b0"} {
		if _, err := ParseID(bad); !errors.Is(err, session.ErrInvalidID) {
			t.Errorf("ParseID(%q): %v", bad, err)
		}
	}
	// A clock that goes back does not break the order.
	later := testIDs.newID(now.Add(-time.Hour))
	if compareID(later, id) <= 0 {
		t.Fatal("id after a clock step back sorts before the previous one")
	}
}

// strings8 reports whether c is a valid RFC 9562 variant nibble.
func strings8(c byte) bool { return c == '8' || c == '9' || c == 'a' || c == 'b' }

// TestIDNodeTag: with a node tag every id carries it where
// session.IDNodeTag reads it, and ids stay valid, sorted and unique.
func TestIDNodeTag(t *testing.T) {
	g := idGen{tag: session.NodeTag("node-2")}
	now := time.Now()
	prev := ""
	for range 1000 {
		id := g.newID(now).String()
		tag, ok := session.IDNodeTag(id)
		if !ok || tag != g.tag {
			t.Fatalf("IDNodeTag(%s) = %d, %v; want %d", id, tag, ok, g.tag)
		}
		if _, err := ParseID(id); err != nil {
			t.Fatalf("ParseID(%s): %v", id, err)
		}
		if id <= prev {
			t.Fatalf("%s after %s: not increasing", id, prev)
		}
		prev = id
	}
	var untagged idGen
	if _, ok := session.IDNodeTag(untagged.newID(now).String()); !ok {
		t.Fatal("an id without a tag is not read as an id")
	}
}
