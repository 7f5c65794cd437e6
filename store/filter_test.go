package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/session"
)

// Pools the filter tests draw from: label keys and values that exercise
// JSON escaping, absent versus empty labels, and keys with the punctuation
// selectors allow.
var (
	filterUsers   = []string{"", "alice", "bob"}
	filterRoutes  = []string{"", "/chat", "/feed"}
	filterRemotes = []string{"", "192.0.2.1:5000", "192.0.2.10:5000", "[2001:db8::1]:443", "[2001:db8::1]:444", "192.0.2.1"}
	filterKeys    = []string{"room", "tier", "a.b/c-d_e", "user"} // "user" as a key is the built-in field
	filterValues  = []string{"", "lobby", "hall", `q"uote`, `back\slash`, "<tag>&", "é", "with space", "%_"}
)

// randomRecords records n sessions with random users, routes, addresses and
// labels, and returns them as the store reads them back.
func randomRecords(t *testing.T, s *Store, rng *rand.Rand, n int) []session.Record {
	t.Helper()
	for i := range n {
		labels := map[string]string{}
		for _, k := range filterKeys[:3] {
			if rng.IntN(3) > 0 {
				labels[k] = filterValues[rng.IntN(len(filterValues))]
			}
		}
		if rng.IntN(8) == 0 {
			labels["user"] = "label-not-field"
		}
		s.RecordOpen(session.Open{ID: fmt.Sprintf("r%04d", i), User: filterUsers[rng.IntN(len(filterUsers))],
			Route: filterRoutes[rng.IntN(len(filterRoutes))], RemoteAddr: filterRemotes[rng.IntN(len(filterRemotes))],
			Labels: labels, ConnectedAt: at(time.Duration(i) * time.Second)})
	}
	flush(t, s)
	page, err := s.ListSessions(context.Background(), session.Filter{Limit: session.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Sessions) != n {
		t.Fatalf("%d sessions recorded, %d read", n, len(page.Sessions))
	}
	return page.Sessions
}

// randomSelector returns a selector of one to three requirements over
// the pools, in the text form users write.
func randomSelector(rng *rand.Rand) string {
	keys := append([]string{session.FieldID, session.FieldUser, session.FieldRoute, session.FieldRemoteAddr}, filterKeys...)
	value := func(key string) string {
		switch key {
		case session.FieldUser:
			return filterUsers[rng.IntN(len(filterUsers))]
		case session.FieldRoute:
			return filterRoutes[rng.IntN(len(filterRoutes))]
		case session.FieldRemoteAddr:
			return filterRemotes[rng.IntN(len(filterRemotes))]
		case session.FieldID:
			return fmt.Sprintf("r%04d", rng.IntN(40))
		}
		return filterValues[rng.IntN(len(filterValues))]
	}
	var reqs []string
	for range 1 + rng.IntN(3) {
		k := keys[rng.IntN(len(keys))]
		switch rng.IntN(6) {
		case 0:
			reqs = append(reqs, k+"="+value(k))
		case 1:
			reqs = append(reqs, k+"!="+value(k))
		case 2, 3:
			vs := []string{value(k)}
			for range rng.IntN(3) {
				vs = append(vs, value(k))
			}
			op := " in "
			if rng.IntN(2) == 0 {
				op = " notin "
			}
			reqs = append(reqs, k+op+"("+strings.Join(vs, ",")+")")
		case 4:
			reqs = append(reqs, k)
		case 5:
			reqs = append(reqs, "!"+k)
		}
	}
	return strings.Join(reqs, ",")
}

// TestSelectorFilterAgreesWithMatch is a bounded property test: on random
// records and random selectors, the rows the SQL translation keeps are
// exactly those Selector.Match accepts.
func TestSelectorFilterAgreesWithMatch(t *testing.T) {
	s := testStore(t, nil)
	rng := rand.New(rand.NewPCG(20, 21))
	all := randomRecords(t, s, rng, 120)
	ctx := context.Background()
	matched := 0
	for range 400 {
		text := randomSelector(rng)
		sel, err := session.ParseSelector(text)
		if err != nil {
			t.Fatalf("generated selector %q: %v", text, err)
		}
		var want []string
		for _, r := range all {
			if sel.Match(r) {
				want = append(want, r.ID)
			}
		}
		page, err := s.ListSessions(ctx, session.Filter{Selector: sel, Limit: session.MaxLimit})
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		if got := ids(page.Sessions); !slices.Equal(got, want) {
			t.Fatalf("selector %q:\nSQL   %v\nMatch %v", text, got, want)
		}
		if len(want) > 0 && len(want) < len(all) {
			matched++
		}
	}
	if matched < 100 {
		t.Fatalf("only %d of 400 selectors kept some rows but not all: the generator is too narrow", matched)
	}
}

func TestSelectorFilterCases(t *testing.T) {
	s := testStore(t, nil)
	for _, o := range []session.Open{
		{ID: "a", User: "alice", Route: "/chat", Labels: map[string]string{"room": "lobby", "tier": ""}},
		{ID: "b", User: "bob", Route: "/feed", Labels: map[string]string{"room": "hall"}},
		{ID: "c", Route: "/chat", Labels: map[string]string{"room": `q"uote`, "user": "x"}},
		{ID: "d"},
	} {
		o.ConnectedAt = at(time.Duration(o.ID[0]) * time.Second)
		s.RecordOpen(o)
	}
	flush(t, s)
	for _, tc := range []struct{ sel, want string }{
		{"", "d c b a"},
		{"all", "d c b a"},
		{"room=lobby", "a"},
		{"room=", "d"},       // absent is ""
		{"tier=", "d c b a"}, // present and empty, or absent
		{"room!=lobby", "d c b"},
		{"room in (lobby,hall)", "b a"},
		{"tier in (,x)", "a"}, // present and empty
		{"room notin (lobby)", "d c b"},
		{"tier", "a"},
		{"!tier", "d c b"},
		{"user", "b a"}, // the built-in field, not the label
		{"!user", "d c"},
		{"user in (,alice)", "a"},
		{"user notin (,alice)", "d c b"},
		{`room=q"uote`, "c"},
		{"route=/chat,room!=lobby", "c"},
		{"id in (a,d)", "d a"},
	} {
		sel, err := session.ParseSelector(tc.sel)
		if err != nil {
			t.Fatal(err)
		}
		page, err := s.ListSessions(context.Background(), session.Filter{Selector: sel})
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(ids(page.Sessions), " "); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.sel, got, tc.want)
		}
	}
}

func TestRemoteAddrFilter(t *testing.T) {
	s := testStore(t, nil)
	for i, addr := range []string{"192.0.2.1:5000", "192.0.2.1:5001", "192.0.2.10:5000", "[2001:db8::1]:443",
		"[2001:db8::10]:443", "192.0.2.1", "unix:@x_y", "unix:@xzy", "10.0.0.1%:1"} {
		s.RecordOpen(session.Open{ID: fmt.Sprintf("s%d", i), RemoteAddr: addr, ConnectedAt: at(time.Duration(i) * time.Second)})
	}
	flush(t, s)
	for _, tc := range []struct{ remote, want string }{
		{"192.0.2.1", "s5 s1 s0"},
		{"192.0.2.1:5000", "s0"},
		{"::ffff:192.0.2.1", "s5 s1 s0"},
		{"2001:db8::1", "s3"},
		{"[2001:db8::1]", "s3"},
		{"2001:DB8:0::1", "s3"},
		{"[2001:db8::1]:443", "s3"},
		{"unix:@x_y", "s6"}, // exact: _ is no wildcard
		{"192.0.2.%", ""},
		{"10.0.0.1%", ""},
		{"192.0.2.2", ""},
	} {
		page, err := s.ListSessions(context.Background(), session.Filter{RemoteAddr: tc.remote})
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(ids(page.Sessions), " "); got != tc.want {
			t.Errorf("remote %q: got %q, want %q", tc.remote, got, tc.want)
		}
	}
}
