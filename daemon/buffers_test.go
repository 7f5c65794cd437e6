package daemon

import "testing"

func TestBufClass(t *testing.T) {
	for _, c := range []struct{ n, class int }{
		{0, -1}, {1, -1}, {maxKeptBuffer, -1},
		{maxKeptBuffer + 1, 0}, {minBufClass, 0}, {minBufClass + 1, 1},
		{64 << 10, 3}, {1 << 20, 7}, {1<<20 + 1, -1},
	} {
		if got := bufClass(c.n); got != c.class {
			t.Errorf("bufClass(%d) = %d, want %d", c.n, got, c.class)
		}
	}
}

// Get lends at least what is asked; put takes back only buffers of a
// class, which Get then lends again.
func TestMsgBuffersReuse(t *testing.T) {
	var p msgBuffers
	for _, n := range []int{1, 100, maxKeptBuffer, maxKeptBuffer + 1, 20 << 10, 1 << 20, 3 << 20} {
		if b := p.Get(n); len(b) != 0 || cap(b) < n {
			t.Errorf("Get(%d): len %d cap %d", n, len(b), cap(b))
		}
	}
	b := p.Get(40 << 10)
	if cap(b) != 64<<10 {
		t.Fatalf("Get(40 KiB): cap %d, want the 64 KiB class", cap(b))
	}
	b = append(b, "message"...)
	p.put(b)
	p.put(make([]byte, 0, 50<<10)) // not a class size: left to the GC
	// sync.Pool may drop what it holds at any time; a few tries are enough
	// to see reuse without depending on it.
	for range 10 {
		got := p.Get(33 << 10)
		if len(got) != 0 {
			t.Fatalf("lent buffer has length %d", len(got))
		}
		if cap(got) == 64<<10 && &got[:1][0] == &b[:1][0] {
			return
		}
		p.put(got)
		b = got
	}
	t.Error("a returned buffer was never lent again")
}
