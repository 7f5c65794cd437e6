package session

import "testing"

func TestNodeTag(t *testing.T) {
	seen := map[uint16]string{}
	for _, name := range []string{"a", "b", "node-1", "node-2", "wsd-eu-1", ""} {
		tag := NodeTag(name)
		if tag == 0 || tag > MaxNodeTag || NodeTag(name) != tag {
			t.Fatalf("NodeTag(%q) = %d", name, tag)
		}
		if other, dup := seen[tag]; dup {
			t.Logf("%q and %q share tag %d (allowed, rare)", name, other, tag)
		}
		seen[tag] = name
	}
	for _, tc := range []struct {
		id  string
		tag uint16
		ok  bool
	}{
		{"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", 0x0a9b, true},
		{"0190a1b2-c3d4-7e5f-bfff-0c1d2e3f4a5b", MaxNodeTag, true},
		{"0190a1b2-c3d4-7e5f-8000-0c1d2e3f4a5b", 0, true},
		{"0190a1b2-c3d4-7e5f-cfff-0c1d2e3f4a5b", 0, false}, // not the RFC 9562 variant
		{"0190a1b2c3d47e5f8a9b0c1d2e3f4a5b", 0, false},
		{"nope", 0, false},
		{"0190a1b2-c3d4-7e5f-8zzz-0c1d2e3f4a5b", 0, false},
	} {
		tag, ok := IDNodeTag(tc.id)
		if tag != tc.tag || ok != tc.ok {
			t.Errorf("IDNodeTag(%q) = %d, %v; want %d, %v", tc.id, tag, ok, tc.tag, tc.ok)
		}
	}
}
