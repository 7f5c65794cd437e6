package session

import (
	"slices"
	"testing"
)

// TestAllClosedBy pins the values, their order (the admin API's error
// message and wsctl's help list them in it) and their stored spelling
// (closed_by in history, PRODUCT.md §6).
func TestAllClosedBy(t *testing.T) {
	want := []ClosedBy{"client", "server", "admin", "idle_timeout", "slow_consumer",
		"protocol_error", "shutdown", "token_expired", "drain", "policy", "crash"}
	got := AllClosedBy()
	if !slices.Equal(got, want) {
		t.Fatalf("AllClosedBy() = %v, want %v", got, want)
	}
	got[0] = "martians"
	if AllClosedBy()[0] != ClosedByClient {
		t.Fatal("AllClosedBy shares its slice with its callers")
	}
	meanings := map[string]ClosedBy{}
	for _, c := range want {
		m := c.Meaning()
		if !c.Valid() || m == "" {
			t.Errorf("%q: Valid %v, Meaning %q", c, c.Valid(), m)
		}
		if other, dup := meanings[m]; dup {
			t.Errorf("%q and %q share the meaning %q", c, other, m)
		}
		meanings[m] = c
	}
}

func TestClosedByInvalid(t *testing.T) {
	for _, c := range []ClosedBy{"", "martians", "Client", "client "} {
		if c.Valid() || c.Meaning() != "" {
			t.Errorf("%q: Valid %v, Meaning %q; want invalid", c, c.Valid(), c.Meaning())
		}
	}
}
