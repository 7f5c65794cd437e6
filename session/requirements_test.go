package session

import (
	"reflect"
	"testing"
)

func TestRequirements(t *testing.T) {
	sel, err := ParseSelector("room in (a,b),user!=bot,tier=gold,x notin (c),y,!z")
	if err != nil {
		t.Fatal(err)
	}
	want := []Requirement{
		{Key: "room", Op: OpIn, Values: []string{"a", "b"}},
		{Key: "user", Op: OpNotEquals, Values: []string{"bot"}},
		{Key: "tier", Op: OpEquals, Values: []string{"gold"}},
		{Key: "x", Op: OpNotIn, Values: []string{"c"}},
		{Key: "y", Op: OpExists},
		{Key: "z", Op: OpNotExists},
	}
	got := sel.Requirements()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	got[0].Values[0] = "changed"
	if sel.String() != "room in (a,b),user!=bot,tier=gold,x notin (c),y,!z" {
		t.Fatalf("Requirements shares the selector's values: %s", sel)
	}
	for _, s := range []string{"", "all"} {
		sel, err := ParseSelector(s)
		if err != nil || sel.Requirements() != nil {
			t.Fatalf("%q: %v %v", s, sel.Requirements(), err)
		}
	}
	if !IsField(FieldRemoteAddr) || IsField("room") {
		t.Fatal("IsField")
	}
}

// TestRecordField: a Record matches as the live Conn of the same session
// would.
func TestRecordField(t *testing.T) {
	r := Record{ID: "x", User: "alice", Labels: map[string]string{"room": "", "user": "label"}}
	c := Conn{ID: "x", User: "alice", Labels: r.Labels}
	for _, s := range []string{"user=alice", "room", "room=", "!route", "route=", "remote_addr", "user in (label)", "id=x"} {
		sel, err := ParseSelector(s)
		if err != nil {
			t.Fatal(err)
		}
		if sel.Match(r) != sel.Match(c) {
			t.Errorf("%q: record %v, conn %v", s, sel.Match(r), sel.Match(c))
		}
	}
}

func TestFrameOpcodeName(t *testing.T) {
	for op, want := range map[uint8]string{0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong", 3: "opcode 3"} {
		if got := (Frame{Opcode: op}).OpcodeName(); got != want {
			t.Errorf("opcode %d: %q, want %q", op, got, want)
		}
	}
}
