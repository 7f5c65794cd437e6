package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/wsd-dev/wsd/session"
)

// The black_box column holds a session's last frame headers (session.Frame)
// in a compact binary form, versioned by its first byte:
//
//	version byte (blackBoxV1)
//	per frame, oldest first:
//	  flags   one byte: opcode (bits 0-3), RSV1-3 (bits 4-6), FIN (bit 7)
//	  length  uvarint of the payload length << 1 | 1 if received
//	  at      varint of the unix nanoseconds minus those of the frame
//	          before (of 0 for the first); 0 stands for a zero time
//
// A frame takes 6 to 9 bytes in practice and never more than 21, so 64
// frames stay under MaxBlackBoxBytes (see the migration 00002 for why not
// JSON).
const blackBoxV1 = 1

// MaxBlackBoxBytes bounds the black_box column: the version byte and
// session.MaxBlackBoxFrames frames of at most 1+10+10 bytes each.
const MaxBlackBoxBytes = 1 + session.MaxBlackBoxFrames*(1+binary.MaxVarintLen64*2)

var errBlackBox = errors.New("malformed black box")

// encodeBlackBox returns the black_box column of frames: nil (NULL) for
// none, else the last session.MaxBlackBoxFrames of them encoded. Fields
// out of range are clamped (a negative length to 0, opcode and RSV to
// their bits).
func encodeBlackBox(frames []session.Frame) []byte {
	if len(frames) == 0 {
		return nil
	}
	if n := len(frames) - session.MaxBlackBoxFrames; n > 0 {
		frames = frames[n:]
	}
	b := make([]byte, 1, 1+len(frames)*9)
	b[0] = blackBoxV1
	var prev int64
	for _, f := range frames {
		flags := f.Opcode&0x0f | (f.RSV&7)<<4
		if f.Fin {
			flags |= 0x80
		}
		length := uint64(max(f.Len, 0)) << 1
		if f.In {
			length |= 1
		}
		var at int64
		if !f.At.IsZero() {
			at = f.At.UnixNano()
		}
		b = append(b, flags)
		b = binary.AppendUvarint(b, length)
		b = binary.AppendVarint(b, at-prev)
		prev = at
	}
	return b
}

// decodeBlackBox reads what encodeBlackBox wrote: nil for NULL.
func decodeBlackBox(b []byte) ([]session.Frame, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if b[0] != blackBoxV1 {
		return nil, fmt.Errorf("%w: version %d", errBlackBox, b[0])
	}
	b = b[1:]
	// Each frame takes at least three bytes.
	frames := make([]session.Frame, 0, min(len(b)/3, session.MaxBlackBoxFrames))
	var at int64
	for len(b) > 0 {
		flags := b[0]
		length, n := binary.Uvarint(b[1:])
		if n <= 0 {
			return nil, fmt.Errorf("%w: frame %d: length", errBlackBox, len(frames))
		}
		b = b[1+n:]
		delta, n := binary.Varint(b)
		if n <= 0 {
			return nil, fmt.Errorf("%w: frame %d: time", errBlackBox, len(frames))
		}
		b = b[n:]
		at += delta
		f := session.Frame{
			In:     length&1 == 1,
			Opcode: flags & 0x0f,
			Fin:    flags&0x80 != 0,
			RSV:    flags >> 4 & 7,
			Len:    int64(length >> 1),
		}
		if at != 0 {
			f.At = time.Unix(0, at).UTC()
		}
		frames = append(frames, f)
	}
	if len(frames) == 0 {
		return nil, nil
	}
	return frames, nil
}
