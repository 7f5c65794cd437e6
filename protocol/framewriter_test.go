package protocol

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"testing"
)

// countingWriter counts the writes made to it and passes them on.
type countingWriter struct {
	w      io.Writer
	writes [][]byte
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.writes = append(c.writes, append([]byte(nil), p...))
	return c.w.Write(p)
}

// TestFrameWriter: with Options.FrameWriter, a prepared frame goes to it
// whole, in one write, never through the buffered writer; every other
// frame still goes through the buffer; and the peer reads one valid stream
// in the order the frames were written.
func TestFrameWriter(t *testing.T) {
	var wire bytes.Buffer
	direct := &countingWriter{w: &wire}
	buffered := &countingWriter{w: &wire}
	nc := &streamConn{r: bytes.NewReader(nil)}
	c := newConn(nc, bufio.NewReader(nc), bufio.NewWriterSize(buffered, 127), false, &Options{FrameWriter: direct})

	pm, err := NewPreparedMessage(TextMessage, []byte("to everyone"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Write(ctx, TextMessage, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.TryWritePrepared(pm); !ok || err != nil {
		t.Fatalf("TryWritePrepared = %v, %v", ok, err)
	}
	if err := c.Ping(ctx, []byte("p")); err != nil {
		t.Fatal(err)
	}
	if err := c.WritePrepared(ctx, pm); err != nil {
		t.Fatal(err)
	}
	if err := c.Write(ctx, BinaryMessage, bytes.Repeat([]byte{7}, 300)); err != nil {
		t.Fatal(err)
	}

	if len(direct.writes) != 2 {
		t.Fatalf("%d writes to the frame writer, want 2 (the prepared frames)", len(direct.writes))
	}
	want := append([]byte{0x81, byte(len("to everyone"))}, "to everyone"...)
	for i, w := range direct.writes {
		if !bytes.Equal(w, want) {
			t.Fatalf("frame writer write %d = %x, want %x", i, w, want)
		}
	}
	for _, w := range buffered.writes {
		if bytes.Contains(w, []byte("to everyone")) {
			t.Fatal("a prepared frame went through the buffered writer")
		}
	}

	peer := newStreamConn(&wire, true, nil) // answers the ping into its own buffer
	for _, w := range []struct {
		typ MessageType
		msg string
	}{{TextMessage, "one"}, {TextMessage, "to everyone"}, {TextMessage, "to everyone"}, {BinaryMessage, string(bytes.Repeat([]byte{7}, 300))}} {
		typ, got, err := peer.Read(ctx)
		if err != nil || typ != w.typ || string(got) != w.msg {
			t.Fatalf("peer read %v %q, %v; want %v %q", typ, got, err, w.typ, w.msg)
		}
	}
}
