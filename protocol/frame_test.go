package protocol

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"testing"
	"unicode/utf8"
)

func TestParseHeader(t *testing.T) {
	cases := []struct {
		name string
		wire string // hex
		want header
		err  error
	}{
		// RFC 6455 §5.7 examples.
		{"unmasked Hello", "810548656c6c6f", header{fin: true, opcode: OpText, length: 5}, nil},
		{"masked Hello", "818537fa213d7f9f4d5158", header{fin: true, opcode: OpText, masked: true, length: 5, key: 0x3d21fa37}, nil},
		{"fragment 1", "010348656c", header{opcode: OpText, length: 3}, nil},
		{"fragment 2", "80026c6f", header{fin: true, opcode: OpContinuation, length: 2}, nil},
		{"ping", "890548656c6c6f", header{fin: true, opcode: OpPing, length: 5}, nil},
		{"256 bytes", "827e0100", header{fin: true, opcode: OpBinary, length: 256}, nil},
		{"64 KiB", "827f0000000000010000", header{fin: true, opcode: OpBinary, length: 65536}, nil},
		{"rsv bits", "f100", header{fin: true, rsv: 0x70, opcode: OpText}, nil},
		{"non-minimal 16-bit length is accepted", "817e0005", header{fin: true, opcode: OpText, length: 5}, nil},
		{"64-bit MSB set", "827f8000000000000000", header{}, errLength64MSB},
		{"largest legal length", "827f7fffffffffffffff", header{fin: true, opcode: OpBinary, length: 1<<63 - 1}, nil},
		{"truncated", "81", header{}, errHeaderShort},
		{"truncated extended length", "817e00", header{}, errHeaderShort},
		{"truncated key", "818537fa", header{}, errHeaderShort},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := hex.DecodeString(tc.wire)
			if err != nil {
				t.Fatal(err)
			}
			got, n, err := parseHeader(b)
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			if n != headerLen(b[0], b[1]) {
				t.Fatalf("consumed %d, headerLen says %d", n, headerLen(b[0], b[1]))
			}
		})
	}
}

func TestMaskedHelloExample(t *testing.T) {
	// RFC 6455 §5.7: a masked "Hello".
	b, _ := hex.DecodeString("818537fa213d7f9f4d5158")
	h, n, err := parseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	p := b[n:]
	mask(h.key, 0, p)
	if string(p) != "Hello" {
		t.Fatalf("unmasked %q", p)
	}
}

func TestAppendHeaderRoundTrip(t *testing.T) {
	for _, length := range []uint64{0, 1, 125, 126, 127, 0xffff, 0x10000, 1 << 40} {
		for _, masked := range []bool{false, true} {
			h := header{fin: length%2 == 0, rsv: rsv1, opcode: OpBinary, masked: masked, length: length, key: 0xdeadbeef}
			if !masked {
				h.key = 0
			}
			b := appendHeader(nil, h)
			got, n, err := parseHeader(b)
			if err != nil || got != h || n != len(b) {
				t.Fatalf("length %d masked %v: got %+v n=%d err=%v", length, masked, got, n, err)
			}
			// Minimal encoding: 2, 4 or 10 bytes plus the key.
			want := 2
			if length > 125 {
				want = 4
			}
			if length > 0xffff {
				want = 10
			}
			if masked {
				want += 4
			}
			if len(b) != want {
				t.Fatalf("length %d: header is %d bytes, want %d", length, len(b), want)
			}
		}
	}
}

// FuzzParseHeader checks that any byte string either fails to parse or
// parses into a header that re-encodes to a header of the same meaning.
func FuzzParseHeader(f *testing.F) {
	for _, s := range []string{"810548656c6c6f", "818537fa213d7f9f4d5158", "827e0100", "827f0000000000010000", "827f8000000000000000", "f1fe0000", "88"} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := parseHeader(b)
		if err != nil {
			return
		}
		if n > len(b) || n > maxHeaderSize || n < 2 {
			t.Fatalf("consumed %d of %d", n, len(b))
		}
		if h.length>>63 != 0 {
			t.Fatalf("length %d has the MSB set", h.length)
		}
		again, m, err := parseHeader(appendHeader(nil, h))
		if err != nil || again != h || m > n {
			t.Fatalf("re-encoding %+v: %+v, %d, %v", h, again, m, err)
		}
	})
}

// FuzzConnRead feeds arbitrary bytes to a server connection as the client's
// stream: reading must end in a message, a clean error or EOF, never a
// panic, and never allocate beyond the limits.
func FuzzConnRead(f *testing.F) {
	key := uint32(0x12345678)
	seed := func(frames ...[]byte) []byte { return bytes.Join(frames, nil) }
	fr := func(fin bool, rsv byte, op Opcode, p string) []byte {
		h := header{fin: fin, rsv: rsv, opcode: op, masked: true, length: uint64(len(p)), key: key}
		b := appendHeader(nil, h)
		start := len(b)
		b = append(b, p...)
		mask(key, 0, b[start:])
		return b
	}
	f.Add(seed(fr(true, 0, OpText, "hello")))
	f.Add(seed(fr(false, 0, OpText, "he"), fr(true, 0, OpPing, "p"), fr(true, 0, OpContinuation, "llo")))
	f.Add(seed(fr(true, 0, OpClose, "\x03\xe8bye")))
	f.Add(seed(fr(true, 0, OpText, "\xce\xba\xe1\xbd"), fr(true, 0, OpBinary, "\x00")))
	f.Add(seed(fr(true, rsv1, OpText, "x")))
	f.Add([]byte("\x82\xff\x7f\xff\xff\xff\xff\xff\xff\xff\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, stream []byte) {
		// Read the stream twice, growing buffers as ReadInto does by
		// itself and borrowing them (Options.Buffers): the messages and
		// the outcome must be the same.
		read := func(bufs BufferSource) (msgs []string, end string) {
			c := newStreamConn(bytes.NewReader(stream), false, &Options{ReadLimit: 1 << 16, CloseTimeout: 1, Buffers: bufs})
			var buf []byte
			for range 100 {
				typ, msg, err := c.ReadInto(t.Context(), buf)
				if err != nil {
					return msgs, err.Error()
				}
				if typ == TextMessage && !utf8.Valid(msg) {
					t.Fatalf("invalid UTF-8 text message %q accepted", msg)
				}
				if len(msg) > 1<<16 {
					t.Fatalf("message of %d bytes passed a 64 KiB limit", len(msg))
				}
				msgs = append(msgs, fmt.Sprint(typ, ":", string(msg)))
				buf = msg
			}
			return msgs, ""
		}
		grown, end1 := read(nil)
		borrowed, end2 := read(dirtyBuffers{})
		if !slices.Equal(grown, borrowed) || end1 != end2 {
			t.Fatalf("with borrowed buffers: %q, %q; without: %q, %q", borrowed, end2, grown, end1)
		}
	})
}

// dirtyBuffers lends buffers of exactly the size asked for, filled with
// garbage past their length, as a pool's reused buffers are.
type dirtyBuffers struct{}

func (dirtyBuffers) Get(n int) []byte {
	b := bytes.Repeat([]byte{0xff}, n)
	return b[:0]
}
