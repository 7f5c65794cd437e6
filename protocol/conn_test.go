package protocol

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestEchoRoundTrip(t *testing.T) {
	url := startServer(t, echoHandler(nil))
	ctx := testCtx(t)
	c, _, err := Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	for _, size := range []int{0, 1, 125, 126, 65535, 65536, 1 << 20} {
		for _, typ := range []MessageType{TextMessage, BinaryMessage} {
			msg := bytes.Repeat([]byte("aé"), size/3+1)[:size]
			if typ == TextMessage {
				msg = []byte(strings.ToValidUTF8(string(msg), "")) // a cut "é" is dropped
			}
			if err := c.Write(ctx, typ, msg); err != nil {
				t.Fatalf("write %d: %v", size, err)
			}
			gotTyp, got, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("read %d: %v", size, err)
			}
			if gotTyp != typ || !bytes.Equal(got, msg) {
				t.Fatalf("size %d %v: echo differs (type %v, %d bytes)", size, typ, gotTyp, len(got))
			}
		}
	}
	if err := c.Close(StatusNormalClosure, "bye"); err != nil {
		t.Fatalf("close: %v", err)
	}
}

func TestStreamingWriterAndReader(t *testing.T) {
	url := startServer(t, echoHandler(nil))
	ctx := testCtx(t)
	c, _, err := Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	w, err := c.Writer(ctx, TextMessage)
	if err != nil {
		t.Fatal(err)
	}
	// "€" split across fragments: the server must reassemble before judging UTF-8.
	for _, part := range []string{"hello ", "\xe2", "\x82", "\xac", " world"} {
		if _, err := io.WriteString(w, part); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	typ, r, err := c.Reader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if typ != TextMessage || string(got) != "hello € world" {
		t.Fatalf("got %v %q", typ, got)
	}
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
}

func TestCloseReasonReachesPeer(t *testing.T) {
	got := make(chan error, 1)
	url := startServer(t, httpHandlerFunc(func(c *Conn) {
		_, _, err := c.Read(context.Background())
		got <- err
	}))
	ctx := testCtx(t)
	c, _, err := Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(4001, "kicked by admin"); err != nil {
		t.Fatalf("close: %v", err)
	}
	var ce *CloseError
	if err := <-got; !errors.As(err, &ce) || ce.Code != 4001 || ce.Reason != "kicked by admin" || ce.Local {
		t.Fatalf("server saw %v", err)
	}
}

// TestYieldAfterControl checks that a read between messages returns after a
// ping with nothing else buffered, and that messages still arrive whole.
func TestYieldAfterControl(t *testing.T) {
	served := make(chan []string, 1)
	opts := &AcceptOptions{Options: Options{YieldAfterControl: true}}
	url := startServer(t, httpHandlerFunc2(opts, func(c *Conn) {
		var got []string
		defer func() { served <- got }()
		for len(got) < 4 {
			typ, msg, err := c.ReadInto(context.Background(), nil)
			if err != nil {
				got = append(got, "error: "+err.Error())
				return
			}
			if typ == 0 {
				got = append(got, "yield")
				continue
			}
			got = append(got, string(msg))
		}
	}))
	p := dialPeer(t, url)
	p.send(true, OpPing, []byte("1"))
	p.expectFrame(OpPong, []byte("1"))
	p.send(false, OpText, []byte("frag"))
	p.send(true, OpPing, []byte("2")) // inside a message: no yield
	p.send(true, OpContinuation, []byte("ment"))
	p.expectFrame(OpPong, []byte("2"))
	// A ping and a message in one write: the message follows at once.
	p.write(append(p.frame(true, 0, OpPing, []byte("3")), p.frame(true, 0, OpText, []byte("next"))...))
	p.expectFrame(OpPong, []byte("3"))
	p.send(true, OpPing, []byte("4"))
	p.expectFrame(OpPong, []byte("4"))
	got := <-served
	want := []string{"yield", "fragment", "next", "yield"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("reads %q, want %q", got, want)
	}
}

// countingBuffers is a BufferSource that records what it lent.
type countingBuffers struct{ lent [][]byte }

func (b *countingBuffers) Get(n int) []byte {
	p := make([]byte, 0, n+7) // more than asked, as a pool would
	b.lent = append(b.lent, p)
	return p
}

// A message that does not fit the buffer given to ReadInto is read into
// memory from Options.Buffers, fragments included; one that fits uses the
// buffer given.
func TestReadIntoBorrowsFromBuffers(t *testing.T) {
	frame := func(fin bool, op Opcode, p []byte) []byte {
		h := header{fin: fin, opcode: op, masked: true, length: uint64(len(p)), key: 0x0a0b0c0d}
		b := appendHeader(nil, h)
		start := len(b)
		b = append(b, p...)
		mask(h.key, 0, b[start:])
		return b
	}
	big := bytes.Repeat([]byte("0123456789"), 300)
	first, rest := []byte(strings.Repeat("a", 100)), []byte(strings.Repeat("b", 5000))
	var stream []byte
	stream = append(stream, frame(true, OpBinary, big)...)
	stream = append(stream, frame(false, OpText, first)...)
	stream = append(stream, frame(true, OpContinuation, rest)...)
	stream = append(stream, frame(true, OpBinary, []byte("small"))...)

	bufs := &countingBuffers{}
	c := newStreamConn(bytes.NewReader(stream), false, &Options{Buffers: bufs})
	same := func(a, b []byte) bool {
		return cap(a) > 0 && cap(b) > 0 && &a[:cap(a)][cap(a)-1] == &b[:cap(b)][cap(b)-1]
	}

	typ, msg, err := c.ReadInto(t.Context(), nil)
	if err != nil || typ != BinaryMessage || !bytes.Equal(msg, big) {
		t.Fatalf("first message: %v %v %d bytes", typ, err, len(msg))
	}
	if len(bufs.lent) != 1 || !same(msg, bufs.lent[0]) {
		t.Fatalf("first message not read into the lent buffer (%d lent)", len(bufs.lent))
	}

	typ, msg, err = c.ReadInto(t.Context(), make([]byte, 0, 64))
	if err != nil || typ != TextMessage || string(msg) != string(first)+string(rest) {
		t.Fatalf("fragmented message: %v %v %d bytes", typ, err, len(msg))
	}
	if n := len(bufs.lent); n < 2 || !same(msg, bufs.lent[n-1]) {
		t.Fatalf("fragmented message not in a lent buffer (%d lent)", n)
	}

	lent := len(bufs.lent)
	own := make([]byte, 0, 64)
	typ, msg, err = c.ReadInto(t.Context(), own)
	if err != nil || typ != BinaryMessage || string(msg) != "small" {
		t.Fatalf("small message: %v %v %q", typ, err, msg)
	}
	if len(bufs.lent) != lent || !same(msg, own) {
		t.Fatal("a message that fits the given buffer borrowed one")
	}
}
