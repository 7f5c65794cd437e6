package protocol

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// TestTooBigReason: a frame over the limit is refused with 1009 and words
// naming the limit it broke: the message's when there is no frame limit
// of its own (the frame limit is then the message's), else the frame's.
func TestTooBigReason(t *testing.T) {
	for _, tc := range []struct {
		opts   Options
		length uint64
		reason string
	}{
		{Options{ReadLimit: 100}, 101, "message exceeds the maximum message size"},
		{Options{ReadLimit: 100, MaxFrameSize: 50}, 51, "frame exceeds the maximum frame size"},
	} {
		h := header{fin: true, opcode: OpText, masked: true, length: tc.length}
		stream := append(appendHeader(nil, h), make([]byte, tc.length)...)
		c := newStreamConn(bytes.NewReader(stream), false, &tc.opts)
		_, _, err := c.Read(context.Background())
		var ce *CloseError
		if !errors.As(err, &ce) || ce.Code != StatusMessageTooBig || ce.Reason != tc.reason {
			t.Errorf("%+v, %d-byte frame: %v, want 1009 %q", tc.opts, tc.length, err, tc.reason)
		}
	}
}
