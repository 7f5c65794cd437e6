package daemon

import (
	"testing"
	"time"

	"github.com/wsd-dev/wsd/internal/wsdtest"
	"github.com/wsd-dev/wsd/protocol"
	"github.com/wsd-dev/wsd/session"
)

func TestBlackBoxPacking(t *testing.T) {
	ev := protocol.FrameEvent{Direction: protocol.Inbound, Opcode: protocol.OpBinary, Fin: true, RSV1: true, RSV3: true, Length: 70000}
	var b blackBox
	now := time.Now().UnixNano()
	for i := range blackBoxFrames + 3 {
		ev.Length = int64(i)
		b.record(ev, now+int64(i))
	}
	fs := b.frames()
	if len(fs) != blackBoxFrames {
		t.Fatalf("%d frames, want %d", len(fs), blackBoxFrames)
	}
	first := fs[0]
	want := session.Frame{At: time.Unix(0, now+3), In: true, Opcode: 2, Fin: true, RSV: 5, Len: 3}
	if !first.At.Equal(want.At) || first.In != want.In || first.Opcode != want.Opcode || first.Fin != want.Fin || first.RSV != want.RSV || first.Len != want.Len {
		t.Fatalf("oldest frame %+v, want %+v", first, want)
	}
	if last := fs[len(fs)-1]; last.Len != blackBoxFrames+2 {
		t.Fatalf("newest frame %+v", last)
	}
	out := protocol.FrameEvent{Direction: protocol.Outbound, Opcode: protocol.OpClose, Length: 1 << 60}
	var o blackBox
	o.record(out, now)
	if f := o.frames()[0]; f.In || f.Fin || f.Opcode != 8 || f.Len != bbLenMax || f.RSV != 0 {
		t.Fatalf("outbound frame %+v", f)
	}
	var none *blackBox
	if none.frames() != nil {
		t.Fatal("frames of no black box")
	}
}

// TestBlackBoxOnAbnormalEnd: a session that ends without a close frame
// keeps the last frame headers; one that ends normally keeps none.
func TestBlackBoxOnAbnormalEnd(t *testing.T) {
	_, url, rec := startDaemon(t, testConfig())

	rc := rawDial(t, url, "/")
	msg := wsdtest.AppendFrame(nil, true, 1, true, []byte("hello"))
	if _, err := rc.Conn.Write(msg); err != nil {
		t.Fatal(err)
	}
	if op, p, err := rc.ReadFrame(); err != nil || op != 1 || string(p) != "hello" {
		t.Fatalf("echo: %d %q %v", op, p, err)
	}
	rc.Conn.Close() // no close frame: 1006
	got := rec.waitClose(t)
	if got.CloseCode != int(protocol.StatusAbnormalClosure) {
		t.Fatalf("code %d", got.CloseCode)
	}
	if len(got.BlackBox) != 2 {
		t.Fatalf("black box %+v, want the message and its echo", got.BlackBox)
	}
	in, out := got.BlackBox[0], got.BlackBox[1]
	if !in.In || in.Opcode != 1 || !in.Fin || in.Len != 5 || out.In || out.Opcode != 1 || out.Len != 5 {
		t.Fatalf("black box %+v", got.BlackBox)
	}

	c := dial(t, url+"/", nil)
	write(t, c, protocol.TextMessage, []byte("x"))
	readMsg(t, c)
	if err := c.Close(protocol.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	if got := rec.waitClose(t); got.BlackBox != nil {
		t.Fatalf("normal close kept a black box: %+v", got.BlackBox)
	}

	// The rings of finished sessions are reused: a new one shows only its
	// own frames.
	rc = rawDial(t, url, "/")
	if _, err := rc.Conn.Write(wsdtest.AppendFrame(nil, true, 2, true, []byte("ab"))); err != nil {
		t.Fatal(err)
	}
	if op, p, err := rc.ReadFrame(); err != nil || op != 2 || string(p) != "ab" {
		t.Fatalf("echo: %d %q %v", op, p, err)
	}
	rc.Conn.Close()
	got = rec.waitClose(t)
	if len(got.BlackBox) != 2 || got.BlackBox[0].Len != 2 || got.BlackBox[0].Opcode != 2 || got.BlackBox[1].Len != 2 {
		t.Fatalf("black box of a reused ring %+v, want the message and its echo", got.BlackBox)
	}
}
