package protocol

import (
	"bufio"
	"context"
	"encoding/binary"
	"slices"
	"strings"
	"testing"
)

// recHooks records what reaches it through Options.Hooks.
type recHooks struct{ log *[]string }

func (h recHooks) OnFrame(ev FrameEvent) {
	*h.log = append(*h.log, "hooks frame "+ev.Direction.String()+" "+ev.Opcode.String())
}
func (h recHooks) OnPong(p []byte) { *h.log = append(*h.log, "hooks pong "+string(p)) }

// TestHooks checks that Options.Hooks sees every frame and pong, alone and
// together with OnFrame and OnPong (Hooks first), and that OnPong alone
// does not observe frames.
func TestHooks(t *testing.T) {
	// A masked pong "ab" (all-zero mask), then a masked close 1000.
	in := "\x8a\x82\x00\x00\x00\x00ab" + "\x88\x82\x00\x00\x00\x00\x03\xe8"
	for _, tc := range []struct {
		name      string
		hooks     bool
		onFrame   bool
		onPong    bool
		wantOrder []string
	}{
		{"hooks", true, false, false, []string{"hooks frame inbound pong", "hooks pong ab", "hooks frame inbound close", "hooks frame outbound close"}},
		{"both", true, true, true, []string{
			"hooks frame inbound pong", "func frame inbound pong", "hooks pong ab", "func pong ab",
			"hooks frame inbound close", "func frame inbound close", "hooks frame outbound close", "func frame outbound close",
		}},
		{"pong only", false, false, true, []string{"func pong ab"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log []string
			var o Options
			if tc.hooks {
				o.Hooks = recHooks{&log}
			}
			if tc.onFrame {
				o.OnFrame = func(ev FrameEvent) {
					log = append(log, "func frame "+ev.Direction.String()+" "+ev.Opcode.String())
				}
			}
			if tc.onPong {
				o.OnPong = func(p []byte) { log = append(log, "func pong "+string(p)) }
			}
			c := newStreamConn(strings.NewReader(in), false, &o)
			if _, _, err := c.Read(context.Background()); closeCode(err) != StatusNormalClosure {
				t.Fatalf("read: %v", err)
			}
			if !slices.Equal(log, tc.wantOrder) {
				t.Fatalf("got %q\nwant %q", log, tc.wantOrder)
			}
		})
	}
}

// TestControlFramesAllocateNothing checks that a ping whose payload is on
// the caller's stack costs no allocation (the payload is copied into the
// write buffer, never handed to the connection), on both sides.
func TestControlFramesAllocateNothing(t *testing.T) {
	for _, client := range []bool{false, true} {
		nc := &streamConn{r: strings.NewReader("")}
		c := newConn(nc, bufio.NewReader(nc), bufio.NewWriter(nc), client, nil)
		allocs := testing.AllocsPerRun(100, func() {
			nc.w.Reset()
			var p [8]byte
			binary.BigEndian.PutUint64(p[:], 42)
			if ok, err := c.TryPing(p[:]); !ok || err != nil {
				t.Fatalf("ping: %v %v", ok, err)
			}
		})
		if allocs != 0 {
			t.Errorf("client %v: %v allocations per ping", client, allocs)
		}
		if got := nc.w.Len(); got != 2+8+4*btoi(client) {
			t.Errorf("client %v: ping of %d bytes", client, got)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// nopHooks observes nothing, at the cost of being called.
type nopHooks struct{}

func (nopHooks) OnFrame(FrameEvent) {}
func (nopHooks) OnPong([]byte)      {}

// BenchmarkTryWritePrepared is a broadcast's user-space work per delivery:
// one prepared 64-byte message to a server connection that observes its
// frames, from parallel goroutines (as a broadcast's shards run) sharing
// the message. The frame goes to the connection's FrameWriter, as the
// daemon's do.
func BenchmarkTryWritePrepared(b *testing.B) {
	pm, err := NewPreparedMessage(TextMessage, make([]byte, 64))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		nc := &benchConn{}
		c := newConn(nc, bufio.NewReader(nc), bufio.NewWriterSize(nc, 127), false, &Options{Hooks: nopHooks{}, FrameWriter: nc})
		for pb.Next() {
			if ok, err := c.TryWritePrepared(pm); !ok || err != nil {
				b.Fatalf("write: %v %v", ok, err)
			}
		}
	})
}
