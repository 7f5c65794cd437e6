package protocol

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// maskBytewise is the definition of RFC 6455 §5.3.
func maskBytewise(key [4]byte, pos int, b []byte) {
	for i := range b {
		b[i] ^= key[(pos+i)&3]
	}
}

func TestMaskMatchesDefinition(t *testing.T) {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	k := binary.LittleEndian.Uint32(key[:])
	src := make([]byte, 300)
	for i := range src {
		src[i] = byte(i * 7)
	}
	for n := 0; n <= len(src); n++ {
		for pos := 0; pos < 4; pos++ {
			want := bytes.Clone(src[:n])
			maskBytewise(key, pos, want)
			got := bytes.Clone(src[:n])
			if next := mask(k, pos, got); next != (pos+n)&3 {
				t.Fatalf("n=%d pos=%d: next position %d", n, pos, next)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("n=%d pos=%d: mask differs", n, pos)
			}
		}
	}
}

func TestMaskInPieces(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	k := binary.LittleEndian.Uint32(key[:])
	src := bytes.Repeat([]byte("0123456789"), 20)
	want := bytes.Clone(src)
	maskBytewise(key, 0, want)
	for _, piece := range []int{1, 3, 7, 8, 33} {
		got := bytes.Clone(src)
		pos := 0
		for off := 0; off < len(got); off += piece {
			pos = mask(k, pos, got[off:min(off+piece, len(got))])
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("pieces of %d: mask differs", piece)
		}
	}
}
