package protocol

import (
	"math/rand/v2"
	"testing"
	"unicode/utf8"
)

// feedSplit validates s in pieces cut at the given positions.
func feedSplit(s []byte, cuts []int) utf8State {
	st := u8Accept
	prev := 0
	for _, c := range cuts {
		st = st.feed(s[prev:c])
		prev = c
	}
	return st.feed(s[prev:])
}

func TestUTF8IncrementalMatchesStdlib(t *testing.T) {
	samples := append(append([]string{}, validUTF8Samples...), invalidUTF8Samples...)
	for _, s := range samples {
		b := []byte(s)
		want := utf8.Valid(b)
		// Every single cut point, and every byte on its own.
		for cut := 0; cut <= len(b); cut++ {
			if got := feedSplit(b, []int{cut}).complete(); got != want {
				t.Errorf("%x cut at %d: valid=%v, want %v", s, cut, got, want)
			}
		}
		cuts := make([]int, 0, len(b))
		for i := 1; i < len(b); i++ {
			cuts = append(cuts, i)
		}
		if got := feedSplit(b, cuts).complete(); got != want {
			t.Errorf("%x byte by byte: valid=%v, want %v", s, got, want)
		}
	}
}

// TestUTF8FailsFast checks that an invalid prefix is rejected at the first
// byte that makes it impossible, not at the end of the stream.
func TestUTF8FailsFast(t *testing.T) {
	cases := []struct {
		prefix string
		reject bool
	}{
		{"\xf4\x90", true},  // above U+10FFFF
		{"\xed\xa0", true},  // surrogate
		{"\xe0\x80", true},  // overlong
		{"\xc0", true},      // never valid
		{"\xf5", true},      // never valid
		{"\x80", true},      // stray continuation
		{"\xf4\x8f", false}, // may still become U+10FFFF
		{"\xe2\x82", false}, // may still become €
		{"ab\xf0\x9f", false},
	}
	for _, tc := range cases {
		st := u8Accept.feed([]byte(tc.prefix))
		if (st == u8Reject) != tc.reject {
			t.Errorf("prefix %x: state %d, reject want %v", tc.prefix, st, tc.reject)
		}
	}
}

// TestUTF8RandomProperty compares the validator with utf8.Valid on random
// byte strings biased towards UTF-8 structure, cut at random points.
func TestUTF8RandomProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte{0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xe1, 0xed, 0xef, 0xf0, 0xf1, 0xf4, 0xf5, 0xff}
	for range 20000 {
		b := make([]byte, r.IntN(12))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		var cuts []int
		for i := 1; i < len(b); i++ {
			if r.IntN(3) == 0 {
				cuts = append(cuts, i)
			}
		}
		if got, want := feedSplit(b, cuts).complete(), utf8.Valid(b); got != want {
			t.Fatalf("%x cut at %v: valid=%v, want %v", b, cuts, got, want)
		}
	}
}

// FuzzUTF8 checks the incremental validator against utf8.Valid for any
// input cut at any point, and that a rejected prefix is really invalid.
func FuzzUTF8(f *testing.F) {
	for _, s := range append(append([]string{}, validUTF8Samples...), invalidUTF8Samples...) {
		f.Add([]byte(s), uint8(len(s)/2))
	}
	f.Fuzz(func(t *testing.T, b []byte, cut uint8) {
		c := min(int(cut), len(b))
		first := u8Accept.feed(b[:c])
		if first == u8Reject {
			// Nothing appended to an invalid prefix can make it valid.
			if utf8.Valid(b[:c]) {
				t.Fatalf("valid prefix %x rejected", b[:c])
			}
			return
		}
		if got, want := first.feed(b[c:]).complete(), utf8.Valid(b); got != want {
			t.Fatalf("%x cut at %d: valid=%v, want %v", b, c, got, want)
		}
	})
}
