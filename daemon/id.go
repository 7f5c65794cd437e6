package daemon

import (
	crand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/wsd-dev/wsd/session"
)

// ID identifies a connection: a UUIDv7 (RFC 9562 §5.7). IDs sort by creation
// time, both as bytes and in their string form, and are unique across
// restarts: 48 bits of Unix milliseconds, 12 bits of sub-millisecond
// sequence that keep IDs made by one process strictly increasing, and 62
// random bits.
type ID [16]byte

// idGen makes UUIDv7s that strictly increase even when the clock steps
// back or many are made in one millisecond: last is the last (milliseconds<<12
// | sequence) handed out.
type idGen struct {
	last atomic.Uint64
	// tag (Config.NodeTag, 0 for none) takes the first 14 of the random
	// bits, so that a fleet routes an id to its node (session.IDNodeTag).
	tag uint16
}

// newID returns a fresh, strictly increasing UUIDv7.
func (g *idGen) newID(now time.Time) ID {
	ms := uint64(now.UnixMilli()) & (1<<48 - 1)
	var stamp uint64
	for {
		last := g.last.Load()
		stamp = max(ms<<12, last+1)
		if g.last.CompareAndSwap(last, stamp) {
			break
		}
	}
	var id ID
	binary.BigEndian.PutUint64(id[0:8], stamp>>12<<16|0x7000|stamp&0xfff)
	// crypto/rand.Read never fails on supported platforms (Go ≥ 1.24).
	crand.Read(id[8:])
	id[8] = id[8]&0x3f | 0x80 // RFC 9562 variant
	if g.tag != 0 {
		id[8] = 0x80 | byte(g.tag>>8)&0x3f
		id[9] = byte(g.tag)
	}
	return id
}

// String returns the canonical 8-4-4-4-12 hexadecimal form.
func (id ID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], id[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], id[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], id[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], id[8:10])
	b[23] = '-'
	hex.Encode(b[24:], id[10:])
	return string(b[:])
}

// Time returns the creation time encoded in the ID, to the millisecond.
func (id ID) Time() time.Time {
	ms := int64(binary.BigEndian.Uint64(id[0:8]) >> 16)
	return time.UnixMilli(ms)
}

// ParseID parses the canonical form of an ID.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return id, fmt.Errorf("%w: %q is not a connection id", session.ErrInvalidID, s)
	}
	var b [32]byte
	copy(b[0:8], s[0:8])
	copy(b[8:12], s[9:13])
	copy(b[12:16], s[14:18])
	copy(b[16:20], s[19:23])
	copy(b[20:32], s[24:36])
	if _, err := hex.Decode(id[:], b[:]); err != nil {
		return ID{}, fmt.Errorf("%w: %q is not a connection id", session.ErrInvalidID, s)
	}
	return id, nil
}
