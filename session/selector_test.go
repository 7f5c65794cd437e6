package session

import (
	"errors"
	"strings"
	"testing"
)

func TestParseSelector(t *testing.T) {
	tests := []struct {
		in    string
		want  string // canonical form
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
		{in: "room", want: "room"},
		{in: "!room", want: "!room"},
		{in: " ! room ", want: "!room"},
		{in: "room in (a,b)", want: "room in (a,b)"},
		{in: "room in ( a , b , a )", want: "room in (a,b)"},
		{in: "room notin (a),tier=gold,!muted", want: "room notin (a),tier=gold,!muted"},
		{in: "room in (a,b),user in (x)", want: "room in (a,b),user in (x)"},
		{in: "=lobby", err: true},
		{in: "room=lobby,", err: true},
		{in: ",room=lobby", err: true},
		{in: "room!lobby", err: true},
		{in: "room=a=b", err: true},
		{in: "room=!a", err: true},
		{in: "-room=a", err: true},
		{in: "ro om=a", err: true},
		{in: "all,room=a", err: true},
		{in: "room in a,b", err: true},
		{in: "room in (a,b", err: true},
		{in: "room in (a,(b))", err: true},
		{in: "room in (a) x", err: true},
		{in: "room among (a)", err: true},
		{in: "room)", err: true},
		{in: "!", err: true},
		{in: "!=a", err: true},
	}
	for _, tt := range tests {
		sel, err := ParseSelector(tt.in)
		if tt.err {
			if err == nil || !errors.Is(err, ErrInvalidSelector) {
				t.Errorf("ParseSelector(%q) = %v, %v; want ErrInvalidSelector", tt.in, sel, err)
			} else if !strings.Contains(err.Error(), SelectorGrammar) {
				t.Errorf("ParseSelector(%q): error %q does not state the grammar", tt.in, err)
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
	c := Conn{ID: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", User: "alice", Route: "/chat", RemoteAddr: "10.0.0.1:4000",
		Labels: map[string]string{"room": "lobby", "tier": "gold", "empty": ""}}
	anon := Conn{ID: "x", Route: "/"}
	for s, want := range map[string][2]bool{ // [c, anon]
		"":                          {true, true},
		"all":                       {true, true},
		"room=lobby":                {true, false},
		"room=other":                {false, false},
		"room!=other":               {true, true},
		"missing!=x":                {true, true},
		"missing=":                  {true, true},
		"missing=x":                 {false, false},
		"room=lobby,user=bot":       {false, false},
		"remote_addr=10.0.0.1:4000": {true, false},
		"room in (hall,lobby)":      {true, false},
		"room in (hall)":            {false, false},
		"room notin (hall)":         {true, true},
		"room notin (lobby,hall)":   {false, true},
		"room":                      {true, false},
		"!room":                     {false, true},
		"empty":                     {true, false}, // a label set to "" is present
		"user":                      {true, false}, // a built-in field is present when not empty
		"!user":                     {false, true},
		"user in (alice,bob),!muted,tier notin (silver)": {true, false},
	} {
		sel, err := ParseSelector(s)
		if err != nil {
			t.Fatalf("ParseSelector(%q): %v", s, err)
		}
		if got := [2]bool{sel.Match(c), sel.Match(anon)}; got != want {
			t.Errorf("%q matches %v, want %v", s, got, want)
		}
	}
}

// FuzzParseSelector checks that parsing never panics and that the canonical
// form of anything accepted parses back to the same selector.
func FuzzParseSelector(f *testing.F) {
	for _, s := range []string{"", "all", "room=lobby", "room=lobby,user!=bot,route=/chat", "a==b", " x = y ", "k!=", "a=b,c",
		"=", "!=", ",", "a.b/c-d_e=f:g", "r in (a,b)", "r notin (a),!m,k", "!k", "(", ")", "r in ((a))"} {
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
		sel.Match(Conn{})
		sel.Match(Conn{ID: s, User: s, Route: s, RemoteAddr: s, Labels: map[string]string{s: s}})
	})
}
