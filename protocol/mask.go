package protocol

import (
	"encoding/binary"
	"math/bits"
)

// mask XORs b in place with the 4-byte masking key (RFC 6455 §5.3), starting
// at key offset pos, and returns the key offset after the last byte so that a
// payload can be masked in pieces. key holds the wire bytes in little-endian
// order, as parseHeader stores them.
//
// The bulk of the work is done eight bytes at a time, in an unrolled loop of
// 32 bytes; only the head and tail take the byte loop.
func mask(key uint32, pos int, b []byte) int {
	// Rotate the key so that byte 0 of the rotated key applies to b[0].
	k := bits.RotateLeft32(key, -8*(pos&3))
	if len(b) >= 8 {
		k64 := uint64(k) | uint64(k)<<32
		for len(b) >= 64 {
			w := b[:64:64] // one bounds check for the eight words
			binary.LittleEndian.PutUint64(w[0:], binary.LittleEndian.Uint64(w[0:])^k64)
			binary.LittleEndian.PutUint64(w[8:], binary.LittleEndian.Uint64(w[8:])^k64)
			binary.LittleEndian.PutUint64(w[16:], binary.LittleEndian.Uint64(w[16:])^k64)
			binary.LittleEndian.PutUint64(w[24:], binary.LittleEndian.Uint64(w[24:])^k64)
			binary.LittleEndian.PutUint64(w[32:], binary.LittleEndian.Uint64(w[32:])^k64)
			binary.LittleEndian.PutUint64(w[40:], binary.LittleEndian.Uint64(w[40:])^k64)
			binary.LittleEndian.PutUint64(w[48:], binary.LittleEndian.Uint64(w[48:])^k64)
			binary.LittleEndian.PutUint64(w[56:], binary.LittleEndian.Uint64(w[56:])^k64)
			b = b[64:]
		}
		for len(b) >= 8 {
			binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k64)
			b = b[8:]
		}
	}
	// Eight-byte steps keep the key phase; finish byte by byte.
	for i := range b {
		b[i] ^= byte(k)
		k = bits.RotateLeft32(k, -8)
	}
	return (pos + len(b)) & 3
}
