// Package bufpool lends the daemon's I/O buffers, so that idle connections
// hold none and busy ones share a few, warm in the CPU's caches, instead of
// each holding its own.
//
// Two kinds are lent: chunks of ChunkSize bytes (GetChunk, PutChunk), in
// which readers and writers hold bytes in transit, and larger buffers by
// size class (Large): the memory of large messages and the joining buffer
// of a large write. The pools are the process's: every connection shares
// them, so a buffer one connection gives back is the next one's. All
// functions and methods are safe for concurrent use.
package bufpool

import (
	"math/bits"
	"sync"
)

// ChunkSize is the size of a chunk: the largest read system call of a
// connection, and the batch its writer accumulates.
const ChunkSize = 16 << 10

var chunks = sync.Pool{New: func() any { b := make([]byte, ChunkSize); return &b }}

// GetChunk borrows a chunk of ChunkSize bytes (length and capacity).
func GetChunk() *[]byte { return chunks.Get().(*[]byte) }

// PutChunk gives back a chunk GetChunk lent. A buffer of another capacity
// is left to the garbage collector, so a caller that sometimes holds a
// larger buffer in its place may give back whichever it holds.
func PutChunk(b *[]byte) {
	if b != nil && cap(*b) == ChunkSize {
		*b = (*b)[:ChunkSize]
		chunks.Put(b)
	}
}

// Sized is a pool of byte slices by size class. Requests of Unpooled bytes
// or fewer are served by a fresh allocation of exactly that capacity (small
// buffers stay with their users), of more than MaxPooled by a fresh one a
// quarter larger (huge ones are rare, and grow); the others get the
// smallest class that holds them. The zero
// value is ready to use.
type Sized struct {
	classes [numClasses]sync.Pool // class i: *[]byte of capacity minClass<<i
}

const (
	// Unpooled is the largest request Sized serves with a fresh
	// allocation rather than a pooled buffer.
	Unpooled = 4 << 10
	// MaxPooled is the largest request Sized serves from a pool.
	MaxPooled = minClass << (numClasses - 1)

	minClass   = 2 * Unpooled // the smallest pooled capacity
	numClasses = 8            // minClass .. minClass<<7 (1 MiB)
)

var large Sized

// Large returns the process's pool of large buffers.
func Large() *Sized { return &large }

// class returns the class of the smallest pooled buffer of at least n
// bytes, or -1 when n is not pooled.
func class(n int) int {
	if n <= Unpooled {
		return -1
	}
	i := bits.Len(uint(n-1)) - bits.Len(uint(minClass-1))
	if i < 0 {
		i = 0
	}
	if i >= numClasses {
		return -1
	}
	return i
}

// Pooled reports whether a request of n bytes is served from a pool.
func Pooled(n int) bool { return class(n) >= 0 }

// Get returns an empty slice with a capacity of at least n bytes; it
// implements protocol.BufferSource.
func (p *Sized) Get(n int) []byte {
	i := class(n)
	if i < 0 {
		if n > MaxPooled {
			// Room to grow by a quarter: a message assembled from
			// many small fragments asks for a little more each time,
			// and must not be copied whole for every fragment.
			return make([]byte, 0, n+n/4)
		}
		return make([]byte, 0, n)
	}
	if b, ok := p.classes[i].Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, minClass<<i)
}

// Put gives back a buffer Get lent; others (of a capacity that is not a
// class's) are left to the garbage collector. b must not be used
// afterwards.
func (p *Sized) Put(b []byte) {
	i := class(cap(b))
	if i < 0 || cap(b) != minClass<<i {
		return
	}
	p.classes[i].Put(&b)
}
