package daemon

import (
	"math/bits"
	"sync"
)

// largeBufs lends large buffers for one use at a time: the memory of
// messages of more than maxKeptBuffer bytes to the readers of every
// connection (protocol.Options.Buffers; it goes back once the message has
// been handled, conn.read), and the joining buffer of a large frame's write
// (lazyWriter.writeJoined). Busy connections then share a few buffers, warm
// in the CPU's caches, instead of each holding one of its own: the kernel
// copies into and out of them faster, and a thousand busy connections do
// not hold a thousand large buffers. Smaller message buffers stay with
// their connection while it is busy.
var largeBufs msgBuffers

// msgBuffers is a pool of byte slices by size class (see largeBufs).
type msgBuffers struct {
	classes [numBufClasses]sync.Pool // class i: *[]byte of capacity minBufClass<<i
}

const (
	minBufClass   = 2 * maxKeptBuffer // the smallest pooled capacity
	numBufClasses = 8                 // up to minBufClass<<7 (1 MiB)
)

// bufClass returns the class of the smallest pooled buffer of at least n
// bytes, or -1 when n is not pooled (small enough to keep, or too large).
func bufClass(n int) int {
	if n <= maxKeptBuffer {
		return -1
	}
	i := bits.Len(uint(n-1)) - bits.Len(uint(minBufClass-1))
	if i < 0 {
		i = 0
	}
	if i >= numBufClasses {
		return -1
	}
	return i
}

// Get implements protocol.BufferSource.
func (p *msgBuffers) Get(n int) []byte {
	i := bufClass(n)
	if i < 0 {
		return make([]byte, 0, n)
	}
	if b, ok := p.classes[i].Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, minBufClass<<i)
}

// put takes back a buffer that Get lent; others are left to the GC.
func (p *msgBuffers) put(b []byte) {
	i := bufClass(cap(b))
	if i < 0 || cap(b) != minBufClass<<i {
		return
	}
	p.classes[i].Put(&b)
}
