package daemon

import (
	"errors"
	"testing"
)

func TestParseSelector(t *testing.T) {
	tests := []struct {
		in    string
		want  string // canonical form; "" with wantErr false means empty
		err   bool
		empty bool
	}{
		{in: "", empty: true},
		{in: "   ", empty: true},
		{in: "all", want: "all"},
		{in: " all ", want: "all"},
		{in: "room=lobby", want: "room=lobby"},
		{in: "room==lobby", want: "room=lobby"},
		{in: "room = lobby , user != bot", want: "room=lobby,user!=bot"},
		{in: "room=lobby,user!=bot,route=/chat", want: "room=lobby,user!=bot,route=/chat"},
		{in: "remote_addr=127.0.0.1:5000", want: "remote_addr=127.0.0.1:5000"},
		{in: "id=0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", want: "id=0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"},
		{in: "user=", want: "user="},
		{in: "app.kubernetes.io/name=x", want: "app.kubernetes.io/name=x"},
		{in: "room", err: true},
		{in: "=lobby", err: true},
		{in: "room=lobby,", err: true},
		{in: ",room=lobby", err: true},
		{in: "room!lobby", err: true},
		{in: "room=a=b", err: true},
		{in: "room=!a", err: true},
		{in: "-room=a", err: true},
		{in: "ro om=a", err: true},
		{in: "all,room=a", err: true},
	}
	for _, tt := range tests {
		sel, err := ParseSelector(tt.in)
		if tt.err {
			if err == nil || !errors.Is(err, ErrInvalidSelector) {
				t.Errorf("ParseSelector(%q) = %v, %v; want ErrInvalidSelector", tt.in, sel, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseSelector(%q): %v", tt.in, err)
			continue
		}
		if sel.Empty() != tt.empty {
			t.Errorf("ParseSelector(%q).Empty() = %v", tt.in, sel.Empty())
		}
		if got := sel.String(); got != tt.want {
			t.Errorf("ParseSelector(%q).String() = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSelectorMatch(t *testing.T) {
	labels := map[string]string{"room": "lobby", "tier": "gold"}
	match := func(s string) bool {
		t.Helper()
		sel, err := ParseSelector(s)
		if err != nil {
			t.Fatal(err)
		}
		return sel.MatchFields("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "alice", "/chat", "10.0.0.1:4000", labels)
	}
	for s, want := range map[string]bool{
		"":                                 true,
		"all":                              true,
		"room=lobby":                       true,
		"room=other":                       false,
		"room!=other":                      true,
		"missing!=x":                       true,
		"missing=":                         true,
		"missing=x":                        false,
		"room=lobby,user!=bot,route=/chat": true,
		"room=lobby,user=bot":              false,
		"user=alice,tier=gold":             true,
		"remote_addr=10.0.0.1:4000":        true,
		"id=0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b":  true,
		"id!=0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b": false,
	} {
		if got := match(s); got != want {
			t.Errorf("match(%q) = %v, want %v", s, got, want)
		}
	}
}

// FuzzParseSelector checks that parsing never panics and that the canonical
// form of anything accepted parses back to the same selector.
func FuzzParseSelector(f *testing.F) {
	for _, s := range []string{"", "all", "room=lobby", "room=lobby,user!=bot,route=/chat", "a==b", " x = y ", "k!=", "a=b,c", "=", "!=", ",", "a.b/c-d_e=f:g"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := ParseSelector(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidSelector) {
				t.Fatalf("error %v does not wrap ErrInvalidSelector", err)
			}
			return
		}
		canon := sel.String()
		again, err := ParseSelector(canon)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", canon, s, err)
		}
		if again.String() != canon || again.Empty() != sel.Empty() || again.All() != sel.All() {
			t.Fatalf("round trip of %q: %q became %q", s, canon, again.String())
		}
		// Matching must not panic, whatever the fields.
		sel.MatchFields("", "", "", "", nil)
		sel.MatchFields(s, s, s, s, map[string]string{s: s})
	})
}
