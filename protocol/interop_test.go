package protocol

// Interoperability with the two Go WebSocket libraries most peers of wsd
// use: github.com/gorilla/websocket v1.5.3 and github.com/coder/websocket
// v1.8.15. Every case runs over loopback TCP in four pairings — our server
// with each library's client, each library's server with our client — and is
// written once, as a script for our side and a script for the other
// library's side, so that each behaviour is checked in both roles.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	cws "github.com/coder/websocket"
	gws "github.com/gorilla/websocket"
)

// interopPeer drives one end of a connection made by another library. Its
// methods mirror our Conn so that one script fits every library.
type interopPeer interface {
	// Write sends p as one message, the library's usual way.
	Write(ctx context.Context, typ MessageType, p []byte) error
	// WriteFragments streams one message through the library's message
	// writer, one Write per part.
	WriteFragments(ctx context.Context, typ MessageType, parts [][]byte) error
	Read(ctx context.Context) (MessageType, []byte, error)
	// Ping sends a ping and waits for its pong, which a concurrent Read
	// must process.
	Ping(ctx context.Context) error
	// Close performs the closing handshake and expects the close frame
	// sent back to echo code.
	Close(code StatusCode, reason string) error
	CloseNow()
	Subprotocol() string
	// CloseStatus extracts the peer's close code and reason from an error
	// returned by Read.
	CloseStatus(err error) (StatusCode, string, bool)
}

// interopConfig is the set-up of one case.
type interopConfig struct {
	serverProtos []string // subprotocols the server supports
	clientProtos []string // subprotocols the client offers
	ours         Options  // our side's options (the observation hooks are added)
	// peerWriteBuffer sizes the other library's write buffer. gorilla's
	// message writer sends a frame each time its buffer fills, so a small
	// buffer yields many fragments. 0 keeps the library's default.
	peerWriteBuffer int
}

// interopLib makes the other library's end of a connection.
type interopLib struct {
	name    string
	upgrade func(w http.ResponseWriter, r *http.Request, cfg *interopConfig) (interopPeer, error)
	dial    func(ctx context.Context, url string, cfg *interopConfig) (interopPeer, error)
}

// interopObs records what our side saw, through Options.OnFrame and
// Options.OnPong. The hooks run on the reading goroutine.
type interopObs struct {
	dataIn  atomic.Int64 // data frames received
	pingsIn atomic.Int64 // pings received
	pongs   chan []byte  // payloads of pongs received
}

func newInteropObs() *interopObs { return &interopObs{pongs: make(chan []byte, 4)} }

// options returns o with the observation hooks installed.
func (obs *interopObs) options(o Options) Options {
	o.OnFrame = func(e FrameEvent) {
		if e.Direction != Inbound {
			return
		}
		switch e.Opcode {
		case OpText, OpBinary, OpContinuation:
			obs.dataIn.Add(1)
		case OpPing:
			obs.pingsIn.Add(1)
		}
	}
	o.OnPong = func(p []byte) {
		select {
		case obs.pongs <- bytes.Clone(p):
		default:
		}
	}
	return o
}

// interopCase is one behaviour, as our side's script and the peer's.
type interopCase struct {
	name string
	cfg  interopConfig
	ours func(ctx context.Context, c *Conn, obs *interopObs) error
	peer func(ctx context.Context, p interopPeer) error
}

func TestInterop(t *testing.T) {
	libs := []interopLib{interopGorilla(), interopCoder()}
	for _, lib := range libs {
		for _, oursServer := range []bool{true, false} {
			name := "server=wsd/client=" + lib.name
			if !oursServer {
				name = "server=" + lib.name + "/client=wsd"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				for _, tc := range interopCases() {
					t.Run(tc.name, func(t *testing.T) { runInterop(t, lib, oursServer, tc) })
				}
			})
		}
	}
}

// runInterop runs tc's scripts on both ends of one loopback connection.
func runInterop(t *testing.T, lib interopLib, oursServer bool, tc interopCase) {
	ctx := testCtx(t)
	obs := newInteropObs()
	opts := obs.options(tc.cfg.ours)
	serverDone := make(chan error, 1)
	var h http.HandlerFunc
	if oursServer {
		h = func(w http.ResponseWriter, r *http.Request) {
			serverDone <- func() error {
				c, err := Accept(w, r, &AcceptOptions{Options: opts, Subprotocols: tc.cfg.serverProtos})
				if err != nil {
					return err
				}
				defer c.CloseNow()
				return tc.ours(ctx, c, obs)
			}()
		}
	} else {
		h = func(w http.ResponseWriter, r *http.Request) {
			serverDone <- func() error {
				p, err := lib.upgrade(w, r, &tc.cfg)
				if err != nil {
					return err
				}
				defer p.CloseNow()
				return tc.peer(ctx, p)
			}()
		}
	}
	url := startServer(t, h)

	var clientErr error
	if oursServer {
		p, err := lib.dial(ctx, url, &tc.cfg)
		if err != nil {
			t.Fatalf("%s dial: %v", lib.name, err)
		}
		clientErr = tc.peer(ctx, p)
		p.CloseNow()
	} else {
		c, _, err := Dial(ctx, url, &DialOptions{Options: opts, Subprotocols: tc.cfg.clientProtos})
		if err != nil {
			t.Fatalf("wsd dial: %v", err)
		}
		clientErr = tc.ours(ctx, c, obs)
		c.CloseNow()
	}
	var serverErr error
	select {
	case serverErr = <-serverDone:
	case <-ctx.Done():
		t.Fatal("the server did not finish")
	}

	ours, peer := serverErr, clientErr
	if !oursServer {
		ours, peer = clientErr, serverErr
	}
	if ours != nil {
		t.Errorf("wsd side: %v", ours)
	}
	if peer != nil {
		t.Errorf("%s side: %v", lib.name, peer)
	}
}

// interopMaxMessages bounds every read loop of the scripts.
const interopMaxMessages = 1000

// Payloads.

type interopMsg struct {
	typ  MessageType
	data []byte
}

func (m interopMsg) String() string { return fmt.Sprintf("%v message of %d bytes", m.typ, len(m.data)) }

// interopSizes cover each payload-length encoding and its edges (125/126,
// 65535/65536) up to 1 MiB.
var interopSizes = []int{0, 1, 125, 126, 127, 65535, 65536, 1 << 20}

// interopText returns n bytes of valid UTF-8 that mix 1- to 4-byte
// sequences.
func interopText(n int) []byte {
	const pattern = "wsd ✓ é ß € 😀 測試 "
	b := []byte(strings.Repeat(pattern, n/len(pattern)+1))[:n]
	// A sequence cut by the end is replaced by dots.
	for i := len(b) - 1; i >= 0 && i >= len(b)-3; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.Valid(b[i:]) {
				copy(b[i:], "...")
			}
			break
		}
	}
	return b
}

// interopBinary returns n pseudo-random bytes, the same for the same n.
func interopBinary(n int) []byte {
	var seed [32]byte
	seed[0] = byte(n)
	b := make([]byte, n)
	rand.NewChaCha8(seed).Read(b)
	return b
}

func interopMessages() []interopMsg {
	var msgs []interopMsg
	for _, n := range interopSizes {
		msgs = append(msgs, interopMsg{TextMessage, interopText(n)}, interopMsg{BinaryMessage, interopBinary(n)})
	}
	return msgs
}

// interopSplit cuts b at the given offsets (which may fall inside a UTF-8
// sequence).
func interopSplit(b []byte, offsets ...int) [][]byte {
	var parts [][]byte
	prev := 0
	for _, o := range offsets {
		parts = append(parts, b[prev:o])
		prev = o
	}
	return append(parts, b[prev:])
}

// interopFragMsg is a message written in parts.
type interopFragMsg struct {
	typ   MessageType
	parts [][]byte
}

// interopFragmented are messages written in parts; the offsets cut
// multi-byte sequences.
func interopFragmented() []interopFragMsg {
	text := interopText(20000)
	bin := interopBinary(70000)
	return []interopFragMsg{
		{TextMessage, [][]byte{[]byte("h"), []byte("\xc3"), []byte("\xa9llo \xe2"), []byte("\x82"), []byte("\xac")}},
		{TextMessage, interopSplit(text, 1, 5, 6, 7, 1001, 4097, 12345)},
		{BinaryMessage, interopSplit(bin, 1, 125, 126, 65536)},
	}
}

// Checks.

// interopWantPeerClose checks that err is the peer's close frame with code and reason.
func interopWantPeerClose(err error, code StatusCode, reason string) error {
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Local || ce.Code != code || ce.Reason != reason {
		return fmt.Errorf("got %v, want the peer's close frame %v %q", err, code, reason)
	}
	return nil
}

// interopWantFailed checks that err reports that we failed the connection
// with code, and that the connection is finished by the time the error is
// returned. (Whether the peer saw the code is the peer script's check.)
func interopWantFailed(err error, code StatusCode, c *Conn) error {
	var ce *CloseError
	if !errors.As(err, &ce) || !ce.Local || ce.Code != code {
		return fmt.Errorf("got %v, want a local failure with %v", err, code)
	}
	select {
	case <-c.Done():
		return nil
	default:
		return fmt.Errorf("failed with %v but the connection is still open", code)
	}
}

// interopWantStatus checks that the peer library reports a close frame with code
// and reason.
func interopWantStatus(p interopPeer, err error, code StatusCode, reason string) error {
	got, gotReason, ok := p.CloseStatus(err)
	if !ok || got != code || gotReason != reason {
		return fmt.Errorf("got %v, want a close frame %v %q", err, code, reason)
	}
	return nil
}

// interopWantCode is interopWantStatus for a reason chosen by our implementation.
func interopWantCode(p interopPeer, err error, code StatusCode) error {
	got, _, ok := p.CloseStatus(err)
	if !ok || got != code {
		return fmt.Errorf("got %v, want a close frame %v", err, code)
	}
	return nil
}

// Script pieces.

// interopEchoOurs echoes messages until reading fails and returns check's verdict
// on that error.
func interopEchoOurs(ctx context.Context, c *Conn, check func(error) error) error {
	var buf []byte
	for range interopMaxMessages {
		typ, msg, err := c.ReadInto(ctx, buf)
		if err != nil {
			return check(err)
		}
		buf = msg
		if err := c.Write(ctx, typ, msg); err != nil {
			return fmt.Errorf("echo: %w", err)
		}
	}
	return errors.New("echo: too many messages")
}

// interopEchoPeer echoes messages until reading fails and returns check's verdict.
func interopEchoPeer(ctx context.Context, p interopPeer, check func(error) error) error {
	for range interopMaxMessages {
		typ, msg, err := p.Read(ctx)
		if err != nil {
			return check(err)
		}
		if err := p.Write(ctx, typ, msg); err != nil {
			return fmt.Errorf("echo: %w", err)
		}
	}
	return errors.New("echo: too many messages")
}

// interopSame compares a received message with the one sent.
func interopSame(wantTyp MessageType, want []byte, typ MessageType, got []byte, err error) error {
	if err != nil {
		return fmt.Errorf("%v message of %d bytes: %w", wantTyp, len(want), err)
	}
	if typ != wantTyp || !bytes.Equal(got, want) {
		return fmt.Errorf("%v message of %d bytes came back as %v of %d bytes, or with other content", wantTyp, len(want), typ, len(got))
	}
	return nil
}

func interopCases() []interopCase {
	cases := []interopCase{
		{
			name: "echo/peer-sends",
			peer: func(ctx context.Context, p interopPeer) error {
				for _, m := range interopMessages() {
					if err := p.Write(ctx, m.typ, m.data); err != nil {
						return fmt.Errorf("write %v: %w", m, err)
					}
					typ, got, err := p.Read(ctx)
					if err := interopSame(m.typ, m.data, typ, got, err); err != nil {
						return err
					}
				}
				return p.Close(StatusNormalClosure, "done")
			},
			ours: func(ctx context.Context, c *Conn, _ *interopObs) error {
				return interopEchoOurs(ctx, c, func(err error) error { return interopWantPeerClose(err, StatusNormalClosure, "done") })
			},
		},
		{
			name: "echo/wsd-sends",
			ours: func(ctx context.Context, c *Conn, _ *interopObs) error {
				var buf []byte
				for _, m := range interopMessages() {
					if err := c.Write(ctx, m.typ, m.data); err != nil {
						return fmt.Errorf("write %v: %w", m, err)
					}
					typ, got, err := c.ReadInto(ctx, buf)
					if err := interopSame(m.typ, m.data, typ, got, err); err != nil {
						return err
					}
					buf = got
				}
				return c.Close(StatusNormalClosure, "done")
			},
			peer: func(ctx context.Context, p interopPeer) error {
				return interopEchoPeer(ctx, p, func(err error) error { return interopWantStatus(p, err, StatusNormalClosure, "done") })
			},
		},
		{
			// gorilla's message writer sends a frame each time its
			// 1 KiB buffer fills; coder's sends one frame per Write.
			name: "fragmented/peer-sends",
			cfg:  interopConfig{peerWriteBuffer: 1024},
			peer: func(ctx context.Context, p interopPeer) error {
				for _, m := range interopFragmented() {
					if err := p.WriteFragments(ctx, m.typ, m.parts); err != nil {
						return err
					}
					typ, got, err := p.Read(ctx)
					if err := interopSame(m.typ, bytes.Join(m.parts, nil), typ, got, err); err != nil {
						return err
					}
				}
				return p.Close(StatusNormalClosure, "")
			},
			ours: func(ctx context.Context, c *Conn, obs *interopObs) error {
				if err := interopEchoOurs(ctx, c, func(err error) error { return interopWantPeerClose(err, StatusNormalClosure, "") }); err != nil {
					return err
				}
				if n, msgs := obs.dataIn.Load(), int64(len(interopFragmented())); n < 2*msgs {
					return fmt.Errorf("received %d data frames for %d messages: the peer did not fragment", n, msgs)
				}
				return nil
			},
		},
		{
			name: "fragmented/wsd-sends",
			ours: func(ctx context.Context, c *Conn, _ *interopObs) error {
				for _, m := range interopFragmented() {
					w, err := c.Writer(ctx, m.typ)
					if err != nil {
						return err
					}
					for _, part := range m.parts {
						if _, err := w.Write(part); err != nil {
							return err
						}
					}
					if err := w.Close(); err != nil {
						return err
					}
					typ, got, err := c.Read(ctx)
					if err := interopSame(m.typ, bytes.Join(m.parts, nil), typ, got, err); err != nil {
						return err
					}
				}
				return c.Close(StatusNormalClosure, "")
			},
			peer: func(ctx context.Context, p interopPeer) error {
				return interopEchoPeer(ctx, p, func(err error) error { return interopWantStatus(p, err, StatusNormalClosure, "") })
			},
		},
		{
			// The peer pings while it waits for an echo; our reader
			// answers between messages.
			name: "ping/peer-pings",
			peer: func(ctx context.Context, p interopPeer) error {
				type result struct {
					typ MessageType
					msg []byte
					err error
				}
				read := make(chan result, 1)
				go func() {
					typ, msg, err := p.Read(ctx)
					read <- result{typ, msg, err}
				}()
				if err := p.Ping(ctx); err != nil {
					p.CloseNow()
					<-read
					return fmt.Errorf("ping: %w", err)
				}
				if err := p.Write(ctx, TextMessage, []byte("after the ping")); err != nil {
					p.CloseNow()
					<-read
					return err
				}
				r := <-read
				if err := interopSame(TextMessage, []byte("after the ping"), r.typ, r.msg, r.err); err != nil {
					return err
				}
				return p.Close(StatusNormalClosure, "")
			},
			ours: func(ctx context.Context, c *Conn, obs *interopObs) error {
				if err := interopEchoOurs(ctx, c, func(err error) error { return interopWantPeerClose(err, StatusNormalClosure, "") }); err != nil {
					return err
				}
				if obs.pingsIn.Load() == 0 {
					return errors.New("no ping observed")
				}
				return nil
			},
		},
		{
			// We ping; the pong reaches Options.OnPong through our
			// reading goroutine, and we then tell the peer.
			name: "ping/wsd-pings",
			ours: func(ctx context.Context, c *Conn, obs *interopObs) error {
				read := make(chan error, 1)
				go func() {
					_, _, err := c.Read(ctx)
					read <- err
				}()
				err := func() error {
					if err := c.Ping(ctx, []byte("wsd-ping")); err != nil {
						return fmt.Errorf("ping: %w", err)
					}
					select {
					case p := <-obs.pongs:
						if string(p) != "wsd-ping" {
							return fmt.Errorf("pong carries %q, want %q", p, "wsd-ping")
						}
					case <-ctx.Done():
						return fmt.Errorf("no pong: %w", ctx.Err())
					}
					return c.Write(ctx, TextMessage, []byte("pong received"))
				}()
				if err != nil {
					c.CloseNow()
					<-read
					return err
				}
				return interopWantPeerClose(<-read, StatusNormalClosure, "")
			},
			peer: func(ctx context.Context, p interopPeer) error {
				typ, msg, err := p.Read(ctx)
				if err := interopSame(TextMessage, []byte("pong received"), typ, msg, err); err != nil {
					return err
				}
				return p.Close(StatusNormalClosure, "")
			},
		},
		{
			// The server's preference wins.
			name: "subprotocol/negotiated",
			cfg: interopConfig{
				serverProtos: []string{"v2.wsd.test", "v1.wsd.test"},
				clientProtos: []string{"v1.wsd.test", "v2.wsd.test", "other"},
			},
			ours: func(ctx context.Context, c *Conn, _ *interopObs) error {
				if got := c.Subprotocol(); got != "v2.wsd.test" {
					return fmt.Errorf("subprotocol %q, want v2.wsd.test", got)
				}
				_, _, err := c.Read(ctx)
				return interopWantPeerClose(err, StatusNormalClosure, "")
			},
			peer: func(ctx context.Context, p interopPeer) error {
				if got := p.Subprotocol(); got != "v2.wsd.test" {
					return fmt.Errorf("subprotocol %q, want v2.wsd.test", got)
				}
				return p.Close(StatusNormalClosure, "")
			},
		},
		{
			name: "subprotocol/none-shared",
			cfg: interopConfig{
				serverProtos: []string{"v3.wsd.test"},
				clientProtos: []string{"v1.wsd.test"},
			},
			ours: func(ctx context.Context, c *Conn, _ *interopObs) error {
				if got := c.Subprotocol(); got != "" {
					return fmt.Errorf("subprotocol %q, want none", got)
				}
				_, _, err := c.Read(ctx)
				return interopWantPeerClose(err, StatusNormalClosure, "")
			},
			peer: func(ctx context.Context, p interopPeer) error {
				if got := p.Subprotocol(); got != "" {
					return fmt.Errorf("subprotocol %q, want none", got)
				}
				return p.Close(StatusNormalClosure, "")
			},
		},
		{
			name: "close/peer-initiates",
			peer: func(ctx context.Context, p interopPeer) error {
				return p.Close(4001, "peer closes: ünïcødé ✓")
			},
			ours: func(ctx context.Context, c *Conn, _ *interopObs) error {
				_, _, err := c.Read(ctx)
				if err := interopWantPeerClose(err, 4001, "peer closes: ünïcødé ✓"); err != nil {
					return err
				}
				select {
				case <-c.Done():
				default:
					return errors.New("the TCP connection is still open after the closing handshake")
				}
				if _, _, err := c.Read(ctx); interopWantPeerClose(err, 4001, "peer closes: ünïcødé ✓") != nil {
					return fmt.Errorf("read after close: %v, want the close error again", err)
				}
				if err := c.Write(ctx, TextMessage, []byte("late")); err == nil {
					return errors.New("write after close succeeded")
				}
				return nil
			},
		},
		{
			// Nobody reads on our side: Close reads the answer itself.
			name: "close/wsd-initiates",
			ours: func(ctx context.Context, c *Conn, _ *interopObs) error {
				return c.Close(4002, "wsd closes: ünïcødé ✓")
			},
			peer: func(ctx context.Context, p interopPeer) error {
				_, _, err := p.Read(ctx)
				return interopWantStatus(p, err, 4002, "wsd closes: ünïcødé ✓")
			},
		},
		{
			// A goroutine reads on our side: it gets the answer and
			// Close waits for it.
			name: "close/wsd-initiates-while-reading",
			ours: func(ctx context.Context, c *Conn, _ *interopObs) error {
				read := make(chan error, 1)
				go func() {
					_, _, err := c.Read(ctx)
					read <- err
				}()
				cerr := c.Close(4003, "going")
				rerr := <-read
				if cerr != nil {
					return fmt.Errorf("close: %w", cerr)
				}
				// The peer echoes the code; the reason is its own.
				var ce *CloseError
				if !errors.As(rerr, &ce) || ce.Local || ce.Code != 4003 {
					return fmt.Errorf("reader got %v, want the peer's answer 4003", rerr)
				}
				return nil
			},
			peer: func(ctx context.Context, p interopPeer) error {
				_, _, err := p.Read(ctx)
				return interopWantStatus(p, err, 4003, "going")
			},
		},
		{
			// A full message at the limit passes; one byte more fails.
			name: "read-limit/single-frame",
			cfg:  interopConfig{ours: Options{ReadLimit: 1024}},
			peer: func(ctx context.Context, p interopPeer) error {
				ok := interopBinary(1024)
				if err := p.Write(ctx, BinaryMessage, ok); err != nil {
					return err
				}
				typ, got, err := p.Read(ctx)
				if err := interopSame(BinaryMessage, ok, typ, got, err); err != nil {
					return err
				}
				if err := p.Write(ctx, BinaryMessage, interopBinary(1025)); err != nil {
					return err
				}
				_, _, err = p.Read(ctx)
				return interopWantCode(p, err, StatusMessageTooBig)
			},
			ours: func(ctx context.Context, c *Conn, _ *interopObs) error {
				return interopEchoOurs(ctx, c, func(err error) error { return interopWantFailed(err, StatusMessageTooBig, c) })
			},
		},
		{
			// Every frame is under the limit, the message is not: the
			// limit applies to the reassembled message. Frames follow the
			// offending one, which the lingering close must drop.
			name: "read-limit/fragmented",
			cfg:  interopConfig{ours: Options{ReadLimit: 1024}, peerWriteBuffer: 512},
			peer: func(ctx context.Context, p interopPeer) error {
				msg := interopBinary(4096)
				if err := p.WriteFragments(ctx, BinaryMessage, interopSplit(msg, 512, 1024, 1536, 2048, 2560, 3072, 3584)); err != nil {
					return err
				}
				_, _, err := p.Read(ctx)
				return interopWantCode(p, err, StatusMessageTooBig)
			},
			ours: func(ctx context.Context, c *Conn, _ *interopObs) error {
				return interopEchoOurs(ctx, c, func(err error) error { return interopWantFailed(err, StatusMessageTooBig, c) })
			},
		},
	}

	// The peer sends text that is not UTF-8 (neither library checks what
	// it sends); we fail the connection with 1007 and the peer sees it.
	// gorilla's 4-byte buffer turns a message written in parts into
	// 4-byte frames.
	invalid := []struct {
		name        string
		parts       [][]byte
		writeBuffer int
	}{
		{"bad-byte", [][]byte{[]byte("hello \xff world")}, 0},
		{"surrogate", [][]byte{[]byte("\xed\xa0\x80")}, 0},
		{"overlong", [][]byte{[]byte("\xc0\xaf")}, 0},
		{"above-U+10FFFF", [][]byte{[]byte("\xf4\x90\x80\x80")}, 0},
		{"truncated-at-end", [][]byte{[]byte("ok \xe2\x82")}, 0},
		{"split-across-fragments", [][]byte{[]byte("valid é "), []byte("\xe2\x82"), []byte("("), []byte(" tail after the bad byte")}, 4},
		{"late-in-large-message", [][]byte{interopText(100000), []byte("\xf8"), interopText(100000)}, 4096},
	}
	for _, inv := range invalid {
		cases = append(cases, interopCase{
			name: "invalid-utf8/" + inv.name,
			cfg:  interopConfig{peerWriteBuffer: inv.writeBuffer},
			peer: func(ctx context.Context, p interopPeer) error {
				var err error
				if len(inv.parts) == 1 {
					err = p.Write(ctx, TextMessage, inv.parts[0])
				} else {
					err = p.WriteFragments(ctx, TextMessage, inv.parts)
				}
				if err != nil {
					return err
				}
				_, _, err = p.Read(ctx)
				return interopWantCode(p, err, StatusInvalidPayloadData)
			},
			ours: func(ctx context.Context, c *Conn, _ *interopObs) error {
				return interopEchoOurs(ctx, c, func(err error) error { return interopWantFailed(err, StatusInvalidPayloadData, c) })
			},
		})
	}
	return cases
}

// gorilla/websocket.

func interopGorilla() interopLib {
	return interopLib{
		name: "gorilla",
		upgrade: func(w http.ResponseWriter, r *http.Request, cfg *interopConfig) (interopPeer, error) {
			u := gws.Upgrader{Subprotocols: cfg.serverProtos, WriteBufferSize: cfg.peerWriteBuffer}
			c, err := u.Upgrade(w, r, nil)
			if err != nil {
				return nil, err
			}
			return newGorillaPeer(c), nil
		},
		dial: func(ctx context.Context, url string, cfg *interopConfig) (interopPeer, error) {
			d := gws.Dialer{Subprotocols: cfg.clientProtos, WriteBufferSize: cfg.peerWriteBuffer}
			c, resp, err := d.DialContext(ctx, url, nil)
			if err != nil {
				return nil, err
			}
			if err := resp.Body.Close(); err != nil {
				return nil, errors.Join(err, c.Close())
			}
			return newGorillaPeer(c), nil
		},
	}
}

// gorillaPeer adapts a gorilla connection. gorilla has no contexts: the
// context's deadline becomes the connection's.
type gorillaPeer struct {
	c     *gws.Conn
	pongs chan string
}

func newGorillaPeer(c *gws.Conn) *gorillaPeer {
	p := &gorillaPeer{c: c, pongs: make(chan string, 4)}
	c.SetPongHandler(func(s string) error {
		select {
		case p.pongs <- s:
		default:
		}
		return nil
	})
	return p
}

func gorillaDeadline(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

func (p *gorillaPeer) Write(ctx context.Context, typ MessageType, b []byte) error {
	if err := p.c.SetWriteDeadline(gorillaDeadline(ctx)); err != nil {
		return err
	}
	return p.c.WriteMessage(int(typ), b)
}

func (p *gorillaPeer) WriteFragments(ctx context.Context, typ MessageType, parts [][]byte) error {
	if err := p.c.SetWriteDeadline(gorillaDeadline(ctx)); err != nil {
		return err
	}
	w, err := p.c.NextWriter(int(typ))
	if err != nil {
		return err
	}
	for _, part := range parts {
		if _, err := w.Write(part); err != nil {
			return errors.Join(err, w.Close())
		}
	}
	return w.Close()
}

func (p *gorillaPeer) Read(ctx context.Context) (MessageType, []byte, error) {
	if err := p.c.SetReadDeadline(gorillaDeadline(ctx)); err != nil {
		return 0, nil, err
	}
	typ, b, err := p.c.ReadMessage()
	return MessageType(typ), b, err
}

func (p *gorillaPeer) Ping(ctx context.Context) error {
	if err := p.c.WriteControl(gws.PingMessage, []byte("gorilla-ping"), gorillaDeadline(ctx)); err != nil {
		return err
	}
	select {
	case s := <-p.pongs:
		if s != "gorilla-ping" {
			return fmt.Errorf("pong carries %q", s)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close sends a close frame, reads until the answer arrives and closes the
// TCP connection.
func (p *gorillaPeer) Close(code StatusCode, reason string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := p.c.WriteControl(gws.CloseMessage, gws.FormatCloseMessage(int(code), reason), gorillaDeadline(ctx))
	if err != nil {
		return errors.Join(err, p.c.Close())
	}
	var rerr error
	for range interopMaxMessages {
		if _, _, rerr = p.Read(ctx); rerr != nil {
			break
		}
	}
	cerr := p.c.Close()
	if got, _, ok := p.CloseStatus(rerr); !ok || got != code {
		return fmt.Errorf("close: answered with %v, want %v", rerr, code)
	}
	return cerr
}

// CloseNow drops the connection; its error, if any, only says that it was
// already closed.
func (p *gorillaPeer) CloseNow() { p.c.Close() }

func (p *gorillaPeer) Subprotocol() string { return p.c.Subprotocol() }

func (p *gorillaPeer) CloseStatus(err error) (StatusCode, string, bool) {
	var ce *gws.CloseError
	if !errors.As(err, &ce) {
		return 0, "", false
	}
	return StatusCode(ce.Code), ce.Text, true
}

// coder/websocket.

// coderReadLimit lifts coder's default 32 KiB read limit above the largest
// test message.
const coderReadLimit = 4 << 20

func interopCoder() interopLib {
	return interopLib{
		name: "coder",
		upgrade: func(w http.ResponseWriter, r *http.Request, cfg *interopConfig) (interopPeer, error) {
			c, err := cws.Accept(w, r, &cws.AcceptOptions{Subprotocols: cfg.serverProtos})
			if err != nil {
				return nil, err
			}
			c.SetReadLimit(coderReadLimit)
			return coderPeer{c}, nil
		},
		dial: func(ctx context.Context, url string, cfg *interopConfig) (interopPeer, error) {
			c, _, err := cws.Dial(ctx, url, &cws.DialOptions{Subprotocols: cfg.clientProtos})
			if err != nil {
				return nil, err
			}
			c.SetReadLimit(coderReadLimit)
			return coderPeer{c}, nil
		},
	}
}

// coderPeer adapts a coder connection; its API is close to ours.
type coderPeer struct{ c *cws.Conn }

func (p coderPeer) Write(ctx context.Context, typ MessageType, b []byte) error {
	return p.c.Write(ctx, cws.MessageType(typ), b)
}

func (p coderPeer) WriteFragments(ctx context.Context, typ MessageType, parts [][]byte) error {
	w, err := p.c.Writer(ctx, cws.MessageType(typ))
	if err != nil {
		return err
	}
	for _, part := range parts {
		if _, err := w.Write(part); err != nil {
			return errors.Join(err, w.Close())
		}
	}
	return w.Close()
}

func (p coderPeer) Read(ctx context.Context) (MessageType, []byte, error) {
	typ, b, err := p.c.Read(ctx)
	return MessageType(typ), b, err
}

func (p coderPeer) Ping(ctx context.Context) error { return p.c.Ping(ctx) }

func (p coderPeer) Close(code StatusCode, reason string) error {
	return p.c.Close(cws.StatusCode(code), reason)
}

// CloseNow drops the connection; its error, if any, only says that it was
// already closed.
func (p coderPeer) CloseNow() { p.c.CloseNow() }

func (p coderPeer) Subprotocol() string { return p.c.Subprotocol() }

func (p coderPeer) CloseStatus(err error) (StatusCode, string, bool) {
	var ce cws.CloseError
	if !errors.As(err, &ce) {
		return 0, "", false
	}
	return StatusCode(ce.Code), ce.Reason, true
}
