package bufpool

import "testing"

func TestClass(t *testing.T) {
	for _, c := range []struct{ n, class int }{
		{0, -1}, {1, -1}, {Unpooled, -1},
		{Unpooled + 1, 0}, {minClass, 0}, {minClass + 1, 1},
		{64 << 10, 3}, {MaxPooled, 7}, {MaxPooled + 1, -1},
	} {
		if got := class(c.n); got != c.class {
			t.Errorf("class(%d) = %d, want %d", c.n, got, c.class)
		}
		if Pooled(c.n) != (c.class >= 0) {
			t.Errorf("Pooled(%d) = %v", c.n, Pooled(c.n))
		}
	}
	if MaxPooled != 1<<20 {
		t.Errorf("MaxPooled = %d, want 1 MiB", MaxPooled)
	}
}

// Get lends at least what is asked; Put takes back only buffers of a
// class, which Get then lends again.
func TestSizedReuse(t *testing.T) {
	var p Sized
	for _, n := range []int{0, 1, 100, Unpooled, Unpooled + 1, 20 << 10, MaxPooled, 3 << 20} {
		b := p.Get(n)
		if len(b) != 0 || cap(b) < n {
			t.Errorf("Get(%d): len %d cap %d", n, len(b), cap(b))
		}
		if !Pooled(n) && n <= Unpooled && cap(b) != n {
			t.Errorf("Get(%d) of a small size: cap %d", n, cap(b))
		}
		if n > MaxPooled && cap(b) != n+n/4 {
			t.Errorf("Get(%d) of a huge size: cap %d, want a quarter more", n, cap(b))
		}
	}
	b := p.Get(40 << 10)
	if cap(b) != 64<<10 {
		t.Fatalf("Get(40 KiB): cap %d, want the 64 KiB class", cap(b))
	}
	b = append(b, "message"...)
	p.Put(b)
	p.Put(make([]byte, 0, 50<<10)) // not a class size: left to the GC
	p.Put(nil)
	// sync.Pool may drop what it holds at any time (and does at random
	// under the race detector); a few tries are enough to see reuse
	// without depending on it.
	for range 20 {
		got := p.Get(33 << 10)
		if len(got) != 0 {
			t.Fatalf("lent buffer has length %d", len(got))
		}
		if cap(got) == 64<<10 && &got[:1][0] == &b[:1][0] {
			return
		}
		p.Put(got)
		b = got
	}
	t.Error("a returned buffer was never lent again")
}

func TestLargeIsShared(t *testing.T) {
	a, b := Large(), Large()
	if a != b {
		t.Fatal("Large returns different pools")
	}
}

func TestChunks(t *testing.T) {
	c := GetChunk()
	if len(*c) != ChunkSize || cap(*c) != ChunkSize {
		t.Fatalf("chunk: len %d cap %d", len(*c), cap(*c))
	}
	*c = (*c)[:10] // a user that resliced it
	PutChunk(c)
	other := make([]byte, ChunkSize+1)
	PutChunk(&other) // not a chunk: left to the GC
	PutChunk(nil)
	for range 20 {
		got := GetChunk()
		if len(*got) != ChunkSize || cap(*got) != ChunkSize {
			t.Fatalf("chunk: len %d cap %d", len(*got), cap(*got))
		}
		if got == c {
			return
		}
		PutChunk(got)
		c = got
	}
	t.Error("a returned chunk was never lent again")
}

// A message past MaxPooled assembled from small fragments (the protocol
// asks for len+n each time it runs out of room) is copied a bounded
// number of times, not once per fragment (Autobahn 9.3.1, 9.4.1).
func TestHugeGrowthIsAmortized(t *testing.T) {
	var p Sized
	var buf []byte
	copied := 0
	const frag, total = 64, 4 << 20
	for len(buf) < total {
		if cap(buf)-len(buf) < frag {
			copied += len(buf)
			if copied > 8*total {
				t.Fatalf("%d bytes copied after %d of a %d-byte message in %d-byte fragments, want at most 8 times its size in all", copied, len(buf), total, frag)
			}
			buf = append(p.Get(len(buf)+frag), buf...)
		}
		buf = buf[:len(buf)+frag]
	}
}
