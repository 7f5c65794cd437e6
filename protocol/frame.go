package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Opcode is a frame opcode (RFC 6455 §5.2).
type Opcode byte

// Opcodes defined by RFC 6455 §11.8.
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

// IsControl reports whether op is a control opcode (0x8-0xF).
func (op Opcode) IsControl() bool { return op&0x8 != 0 }

func (op Opcode) known() bool {
	switch op {
	case OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong:
		return true
	}
	return false
}

func (op Opcode) String() string {
	switch op {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return fmt.Sprintf("opcode(%#x)", byte(op))
}

// RSV bits of the first header byte.
const (
	rsv1 = 0x40
	rsv2 = 0x20
	rsv3 = 0x10
)

// maxHeaderSize is the longest frame header: 2 bytes, 8 bytes of extended
// length and a 4-byte masking key.
const maxHeaderSize = 14

// maxControlPayload is the longest payload of a control frame (§5.5).
const maxControlPayload = 125

// header is a decoded frame header.
type header struct {
	fin    bool
	rsv    byte // RSV bits in their wire position (0x70 mask)
	opcode Opcode
	masked bool
	length uint64
	key    uint32 // masking key, as read from the wire in little-endian order
}

var (
	errHeaderShort = errors.New("frame header truncated")
	errLength64MSB = errors.New("64-bit payload length has its most significant bit set")
)

// headerLen returns the total header length announced by the first two bytes.
func headerLen(b0, b1 byte) int {
	n := 2
	switch b1 & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&0x80 != 0 {
		n += 4
	}
	return n
}

// parseHeader decodes a frame header from b, which must hold at least
// headerLen(b[0], b[1]) bytes. It checks only what the wire format itself
// forbids (the MSB of a 64-bit length); protocol rules are the reader's job.
// Non-minimal length encodings are accepted, as RFC 6455 §5.2 requires
// senders but not receivers to use the minimal form.
func parseHeader(b []byte) (header, int, error) {
	if len(b) < 2 {
		return header{}, 0, errHeaderShort
	}
	n := headerLen(b[0], b[1])
	if len(b) < n {
		return header{}, 0, errHeaderShort
	}
	h := header{
		fin:    b[0]&0x80 != 0,
		rsv:    b[0] & 0x70,
		opcode: Opcode(b[0] & 0x0f),
		masked: b[1]&0x80 != 0,
	}
	i := 2
	switch l := b[1] & 0x7f; l {
	case 126:
		h.length = uint64(binary.BigEndian.Uint16(b[2:]))
		i += 2
	case 127:
		h.length = binary.BigEndian.Uint64(b[2:])
		if h.length>>63 != 0 {
			return header{}, 0, errLength64MSB
		}
		i += 8
	default:
		h.length = uint64(l)
	}
	if h.masked {
		h.key = binary.LittleEndian.Uint32(b[i:])
	}
	return h, n, nil
}

// appendHeader appends the wire form of h to dst, using the minimal length
// encoding.
func appendHeader(dst []byte, h header) []byte {
	b0 := byte(h.opcode) | h.rsv
	if h.fin {
		b0 |= 0x80
	}
	var b1 byte
	if h.masked {
		b1 = 0x80
	}
	switch {
	case h.length <= 125:
		dst = append(dst, b0, b1|byte(h.length))
	case h.length <= 0xffff:
		dst = append(dst, b0, b1|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(h.length))
	default:
		dst = append(dst, b0, b1|127)
		dst = binary.BigEndian.AppendUint64(dst, h.length)
	}
	if h.masked {
		dst = binary.LittleEndian.AppendUint32(dst, h.key)
	}
	return dst
}
