package protocol

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	coder "github.com/coder/websocket"
	"github.com/gorilla/websocket"
)

func offer(s string) []Extension {
	exts, err := ParseExtensions([]string{s})
	if err != nil {
		panic(err)
	}
	return exts
}

// TestNegotiateDeflate covers RFC 7692 §7.1 and the offer families of
// Autobahn case group 13.
func TestNegotiateDeflate(t *testing.T) {
	noCtx := &CompressionOptions{Mode: CompressionNoContextTakeover}
	ctx := &CompressionOptions{Mode: CompressionContextTakeover}
	cases := []struct {
		name  string
		offer string
		opts  *CompressionOptions
		want  string // "" = declined
	}{
		{"plain (13.1)", "permessage-deflate", ctx, "permessage-deflate"},
		{"plain, server without context", "permessage-deflate", noCtx, "permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
		{"client_max_window_bits without value (browsers)", "permessage-deflate; client_max_window_bits", ctx, "permessage-deflate"},
		{"client no context (13.2)", "permessage-deflate; client_no_context_takeover", ctx, "permessage-deflate; client_no_context_takeover"},
		{"server no context (13.3)", "permessage-deflate; server_no_context_takeover", ctx, "permessage-deflate; server_no_context_takeover"},
		{"server window 8 (13.4)", "permessage-deflate; server_max_window_bits=8", ctx, "permessage-deflate; server_max_window_bits=8"},
		{"server window 15 (13.5)", "permessage-deflate; server_max_window_bits=15", ctx, "permessage-deflate; server_max_window_bits=15"},
		{"client window 9 (13.6)", "permessage-deflate; client_max_window_bits=9", ctx, "permessage-deflate"},
		{"both no context, windows 9 (13.7)", "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=9", ctx,
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9"},
		{"quoted value", `permessage-deflate; server_max_window_bits="10"`, ctx, "permessage-deflate; server_max_window_bits=10"},
		{"first acceptable of several", "permessage-deflate; server_max_window_bits=7, permessage-deflate; server_max_window_bits=12, permessage-deflate", ctx,
			"permessage-deflate; server_max_window_bits=12"},
		{"window 16", "permessage-deflate; server_max_window_bits=16", ctx, ""},
		{"window 7", "permessage-deflate; client_max_window_bits=7", ctx, ""},
		{"leading zero", "permessage-deflate; server_max_window_bits=09", ctx, ""},
		{"server window without value", "permessage-deflate; server_max_window_bits", ctx, ""},
		{"value on a flag", "permessage-deflate; server_no_context_takeover=1", ctx, ""},
		{"duplicate parameter", "permessage-deflate; client_no_context_takeover; client_no_context_takeover", ctx, ""},
		{"unknown parameter", "permessage-deflate; x=1", ctx, ""},
		{"other extension only", "x-webkit-deflate-frame", ctx, ""},
		{"bad offers then a good one", "permessage-deflate; x, permessage-deflate; server_max_window_bits=20, permessage-deflate; client_no_context_takeover", noCtx,
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, st, ok := negotiateDeflate(offer(tc.offer), tc.opts)
			if tc.want == "" {
				if ok {
					t.Fatalf("accepted with %q", resp.String())
				}
				return
			}
			if !ok || resp.String() != tc.want {
				t.Fatalf("response %q (ok=%v), want %q", resp.String(), ok, tc.want)
			}
			if st == nil {
				t.Fatal("no state")
			}
		})
	}
}

func TestDeflateClientChecksResponse(t *testing.T) {
	o := &CompressionOptions{Mode: CompressionContextTakeover}
	for _, tc := range []struct {
		resp string
		ok   bool
	}{
		{"permessage-deflate", true},
		{"permessage-deflate; client_max_window_bits=10", true},
		{"permessage-deflate; server_no_context_takeover; client_no_context_takeover", true},
		{"permessage-deflate; server_max_window_bits=10", false}, // not offered
		{"permessage-deflate; client_max_window_bits", false},    // a response needs a value
		{"permessage-deflate; client_max_window_bits=16", false},
		{"permessage-deflate; mystery", false},
	} {
		_, err := acceptDeflateResponse(offer(tc.resp)[0], o)
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v", tc.resp, err)
		}
	}
	noCtx := &CompressionOptions{Mode: CompressionNoContextTakeover}
	if _, err := acceptDeflateResponse(offer("permessage-deflate")[0], noCtx); err == nil {
		t.Error("a response that ignores the offered server_no_context_takeover was accepted")
	}
}

// compressibleText makes text that compresses well but not trivially.
func compressibleText(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	words := []string{"websocket ", "frame ", "deflate ", "κόσμε ", "window ", "message ", "€ ", "context "}
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
	}
	return []byte(strings.ToValidUTF8(string(b.Bytes()[:n]), ""))
}

func TestDeflateRoundTrip(t *testing.T) {
	for _, mode := range []CompressionMode{CompressionNoContextTakeover, CompressionContextTakeover} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			opts := &AcceptOptions{Compression: &CompressionOptions{Mode: mode, Threshold: -1}}
			url := startServer(t, echoHandler(opts))
			ctx := testCtx(t)
			c, _, err := Dial(ctx, url, &DialOptions{Compression: &CompressionOptions{Mode: mode, Threshold: -1}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			if !strings.HasPrefix(c.Extensions(), "permessage-deflate") {
				t.Fatalf("extensions %q", c.Extensions())
			}
			for i, n := range []int{0, 1, 100, 4096, 70000, 1 << 20} {
				msg := compressibleText(n, uint64(i))
				if err := c.Write(ctx, TextMessage, msg); err != nil {
					t.Fatal(err)
				}
				typ, got, err := c.Read(ctx)
				if err != nil || typ != TextMessage || !bytes.Equal(got, msg) {
					t.Fatalf("size %d: %v %v (%d bytes back)", n, typ, err, len(got))
				}
				// The same message again exercises the context.
				if err := c.Write(ctx, BinaryMessage, msg); err != nil {
					t.Fatal(err)
				}
				if _, got, err := c.Read(ctx); err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("size %d again: %v", n, err)
				}
			}
			// A compressed message streamed in fragments.
			w, err := c.Writer(ctx, TextMessage)
			if err != nil {
				t.Fatal(err)
			}
			want := compressibleText(200000, 99)
			for off := 0; off < len(want); off += 7000 {
				if _, err := w.Write(want[off:min(off+7000, len(want))]); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			_, r, err := c.Reader(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("streamed message: %v (%d bytes)", err, len(got))
			}
			if err := c.Close(StatusNormalClosure, ""); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestDeflateRawFrames checks the wire format: RSV1 only on the first
// frame, the tail removed, control frames never compressed, a compressed
// message from a client split over frames.
func TestDeflateRawFrames(t *testing.T) {
	opts := &AcceptOptions{Compression: &CompressionOptions{Mode: CompressionNoContextTakeover, Threshold: -1}}
	url := startServer(t, echoHandler(opts))
	p := dialPeerExt(t, url, "permessage-deflate; client_max_window_bits")
	msg := compressibleText(5000, 1)
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, flate.BestCompression)
	fw.Write(msg)
	fw.Flush()
	wire := bytes.TrimSuffix(buf.Bytes(), deflateTail)
	// Three frames, RSV1 on the first only, a ping in between.
	third := len(wire) / 3
	p.write(p.frame(false, rsv1, OpText, wire[:third]))
	p.send(true, OpPing, []byte("ping"))
	p.write(p.frame(false, 0, OpContinuation, wire[third:2*third]))
	p.write(p.frame(true, 0, OpContinuation, wire[2*third:]))
	p.expectFrame(OpPong, []byte("ping"))
	h, payload, err := p.readFrame()
	if err != nil || h.opcode != OpText || h.rsv != rsv1 || !h.fin {
		t.Fatalf("echo frame %+v %v", h, err)
	}
	got, err := io.ReadAll(flate.NewReader(io.MultiReader(bytes.NewReader(payload), bytes.NewReader(inflateSuffix))))
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo inflates to %d bytes: %v", len(got), err)
	}
	// RSV1 on a continuation frame is a protocol error.
	p.write(p.frame(false, rsv1, OpText, wire[:third]))
	p.write(p.frame(true, rsv1, OpContinuation, wire[third:]))
	p.expectClose(StatusProtocolError)
}

func TestDeflateRSV1OnControlFrame(t *testing.T) {
	opts := &AcceptOptions{Compression: &CompressionOptions{Mode: CompressionNoContextTakeover}}
	url := startServer(t, echoHandler(opts))
	p := dialPeerExt(t, url, "permessage-deflate")
	p.write(p.frame(true, rsv1, OpPing, []byte("x")))
	p.expectClose(StatusProtocolError)
}

func TestDeflateCorruptData(t *testing.T) {
	opts := &AcceptOptions{Compression: &CompressionOptions{Mode: CompressionNoContextTakeover}}
	url := startServer(t, echoHandler(opts))
	p := dialPeerExt(t, url, "permessage-deflate")
	p.write(p.frame(true, rsv1, OpBinary, []byte{0xff, 0xff, 0xff, 0xff}))
	p.expectClose(StatusInvalidPayloadData)
}

// TestDeflateInvalidUTF8InsideCompressedText checks that UTF-8 is judged on
// the inflated text.
func TestDeflateInvalidUTF8InsideCompressedText(t *testing.T) {
	opts := &AcceptOptions{Compression: &CompressionOptions{Mode: CompressionNoContextTakeover}}
	url := startServer(t, echoHandler(opts))
	p := dialPeerExt(t, url, "permessage-deflate")
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, flate.BestSpeed)
	fw.Write([]byte("valid then \xed\xa0\x80 a surrogate"))
	fw.Flush()
	p.write(p.frame(true, rsv1, OpText, bytes.TrimSuffix(buf.Bytes(), deflateTail)))
	p.expectClose(StatusInvalidPayloadData)
}

// dialPeerExt is dialPeer with a Sec-WebSocket-Extensions offer.
func dialPeerExt(t *testing.T, url, ext string) *rawPeer {
	t.Helper()
	nc := dialRaw(t, url)
	p := &rawPeer{t: t, nc: nc, key: 0x11223344}
	p.br = newPeerReader(nc)
	p.write([]byte("GET / HTTP/1.1\r\nHost: " + nc.RemoteAddr().String() + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + sampleKey + "\r\nSec-WebSocket-Extensions: " + ext + "\r\n\r\n"))
	p.deadline()
	resp, err := http.ReadResponse(p.br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	if !strings.HasPrefix(resp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate") {
		t.Fatalf("compression not negotiated: %q", resp.Header.Get("Sec-WebSocket-Extensions"))
	}
	return p
}

// TestDeflateBomb sends a compressed message of about 1 MiB that inflates
// to 1 GiB against a 1 MiB limit: the connection must fail with 1009 once
// the limit is passed, without inflating (or allocating) the rest.
func TestDeflateBomb(t *testing.T) {
	// A sync-flushed deflate segment refers only to itself, so 1024 copies
	// of one that inflates to 1 MiB make a valid stream of 1 GiB.
	var seg bytes.Buffer
	fw, _ := flate.NewWriter(&seg, flate.BestCompression)
	fw.Write(make([]byte, 1<<20))
	fw.Flush()
	wire := bytes.Repeat(seg.Bytes(), 1<<10)
	wire = bytes.TrimSuffix(wire, deflateTail)
	t.Logf("bomb: %d bytes inflating to 1 GiB", len(wire))

	h := header{fin: true, rsv: rsv1, opcode: OpBinary, masked: true, length: uint64(len(wire)), key: 0x01020304}
	stream := appendHeader(nil, h)
	start := len(stream)
	stream = append(stream, wire...)
	mask(h.key, 0, stream[start:])

	c := newStreamConn(bytes.NewReader(stream), false, &Options{ReadLimit: 1 << 20, MaxFrameSize: 8 << 20})
	c.df = newDeflateState(&CompressionOptions{Mode: CompressionNoContextTakeover}, 15, false, false, 15)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, msg, err := c.Read(context.Background())
	runtime.ReadMemStats(&after)
	if closeCode(err) != StatusMessageTooBig {
		t.Fatalf("bomb read: %v (%d bytes)", err, len(msg))
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
		t.Fatalf("reading the bomb allocated %d MiB", grew>>20)
	}
}

// TestDeflateSmallWindowIsHonoured checks, with an independent inflater
// (Node's zlib, which enforces the window), that a server asked for
// server_max_window_bits=N never refers back further than 2^N bytes.
func TestDeflateSmallWindowIsHonoured(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is needed as an independent inflater: %v", err)
	}
	// One line per case: window bits, expected length, base64 stream.
	var input bytes.Buffer
	var want []string
	for _, bits := range []int{8, 9, 12, 15} {
		st := newDeflateState(&CompressionOptions{Mode: CompressionNoContextTakeover, Level: flate.BestCompression}, bits, false, false, 15)
		for _, n := range []int{1 << (bits - 1), 1 << bits, 1<<bits + 1, 100000} {
			// Repetitive text at distances beyond the window tempts the
			// compressor to refer back too far.
			msg := bytes.Repeat(compressibleText(1<<bits+300, uint64(n)), 1+n/(1<<bits+300))[:n]
			var buf bytes.Buffer
			if err := st.compress(&buf, msg); err != nil {
				t.Fatal(err)
			}
			buf.Write(inflateSuffix)
			// zlib's raw inflate does not take windowBits 8 and uses 9
			// instead, as RFC 7692 §7.1.2.1 notes.
			fmt.Fprintf(&input, "%d %s\n", max(bits, 9), base64.StdEncoding.EncodeToString(buf.Bytes()))
			want = append(want, fmt.Sprintf("window %d: %d", bits, n))
		}
	}
	script := `const z=require("zlib");let d="";process.stdin.on("data",c=>d+=c).on("end",()=>{
for(const l of d.trim().split("\n")){const [w,b]=l.split(" ");
try{console.log(z.inflateRawSync(Buffer.from(b,"base64"),{windowBits:+w}).length)}catch(e){console.log("ERR "+e.message)}}})`
	cmd := exec.Command(node, "-e", script)
	cmd.Stdin = &input
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	got := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(got) != len(want) {
		t.Fatalf("node answered %d lines for %d cases: %q", len(got), len(want), out)
	}
	for i, w := range want {
		if n := w[strings.LastIndex(w, " ")+1:]; got[i] != n {
			t.Errorf("%s bytes: node inflated %q", w, got[i])
		}
	}
}

func TestDeflateInteropGorilla(t *testing.T) {
	// gorilla client (compression on) against our server.
	opts := &AcceptOptions{Compression: &CompressionOptions{Mode: CompressionNoContextTakeover, Threshold: -1}}
	url := startServer(t, echoHandler(opts))
	d := websocket.Dialer{EnableCompression: true}
	gc, resp, err := d.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	if !strings.Contains(resp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate") {
		t.Fatalf("not negotiated: %q", resp.Header.Get("Sec-WebSocket-Extensions"))
	}
	for i, n := range []int{10, 5000, 300000} {
		msg := compressibleText(n, uint64(i))
		if err := gc.WriteMessage(websocket.TextMessage, msg); err != nil {
			t.Fatal(err)
		}
		_, got, err := gc.ReadMessage()
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("gorilla echo %d: %v", n, err)
		}
	}

	// Our client against a gorilla server with compression.
	up := websocket.Upgrader{EnableCompression: true}
	gurl := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		conn.EnableWriteCompression(true)
		for {
			typ, msg, err := conn.ReadMessage()
			if err != nil {
				return
			}
			if err := conn.WriteMessage(typ, msg); err != nil {
				return
			}
		}
	}))
	ctx := testCtx(t)
	c, _, err := Dial(ctx, gurl, &DialOptions{Compression: &CompressionOptions{Mode: CompressionNoContextTakeover, Threshold: -1}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	for i, n := range []int{10, 5000, 300000} {
		msg := compressibleText(n, uint64(i+10))
		if err := c.Write(ctx, BinaryMessage, msg); err != nil {
			t.Fatal(err)
		}
		if _, got, err := c.Read(ctx); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("echo from gorilla %d: %v", n, err)
		}
	}
}

func TestDeflateInteropCoder(t *testing.T) {
	for _, mode := range []coder.CompressionMode{coder.CompressionNoContextTakeover, coder.CompressionContextTakeover} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			// coder client against our server in context-takeover mode.
			opts := &AcceptOptions{Compression: &CompressionOptions{Mode: CompressionContextTakeover, Threshold: -1}}
			url := startServer(t, echoHandler(opts))
			ctx := testCtx(t)
			cc, _, err := coder.Dial(ctx, url, &coder.DialOptions{CompressionMode: mode, CompressionThreshold: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer cc.CloseNow()
			cc.SetReadLimit(1 << 22)
			for i, n := range []int{10, 5000, 300000, 5000} {
				msg := compressibleText(n, uint64(i))
				if err := cc.Write(ctx, coder.MessageText, msg); err != nil {
					t.Fatal(err)
				}
				_, got, err := cc.Read(ctx)
				if err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("coder echo %d: %v", n, err)
				}
			}
			if err := cc.Close(coder.StatusNormalClosure, ""); err != nil {
				t.Fatal(err)
			}

			// Our client against a coder server.
			curl := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				conn, err := coder.Accept(w, r, &coder.AcceptOptions{CompressionMode: mode, CompressionThreshold: 1})
				if err != nil {
					return
				}
				defer conn.CloseNow()
				conn.SetReadLimit(1 << 22)
				for {
					typ, msg, err := conn.Read(context.Background())
					if err != nil {
						return
					}
					if err := conn.Write(context.Background(), typ, msg); err != nil {
						return
					}
				}
			}))
			c, _, err := Dial(ctx, curl, &DialOptions{Compression: &CompressionOptions{Mode: CompressionContextTakeover, Threshold: -1}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			for i, n := range []int{10, 5000, 300000, 5000} {
				msg := compressibleText(n, uint64(i+20))
				if err := c.Write(ctx, TextMessage, msg); err != nil {
					t.Fatal(err)
				}
				if _, got, err := c.Read(ctx); err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("echo from coder %d: %v", n, err)
				}
			}
		})
	}
}

func TestPreparedMessage(t *testing.T) {
	for _, comp := range []*CompressionOptions{nil, {Mode: CompressionNoContextTakeover, Threshold: -1}} {
		opts := &AcceptOptions{Compression: comp}
		pm, err := NewPreparedMessage(TextMessage, compressibleText(3000, 5))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		url := startServer(t, httpHandlerFunc2(opts, func(c *Conn) {
			defer close(done)
			if err := c.WritePrepared(context.Background(), pm); err != nil {
				t.Errorf("write prepared: %v", err)
			}
		}))
		for range 3 {
			c, _, err := Dial(testCtx(t), url, &DialOptions{Compression: comp})
			if err != nil {
				t.Fatal(err)
			}
			if _, got, err := c.Read(testCtx(t)); err != nil || !bytes.Equal(got, pm.data) {
				t.Fatalf("prepared message: %v", err)
			}
			c.CloseNow()
			<-done
			done = make(chan struct{})
		}
		encoded := len(pm.frames)
		if pm.plain.Load() != nil {
			encoded++
		}
		if encoded != 1 {
			t.Fatalf("prepared message encoded %d times", encoded)
		}
	}
}

func TestTryWritePrepared(t *testing.T) {
	pm, err := NewPreparedMessage(BinaryMessage, []byte("prepared"))
	if err != nil {
		t.Fatal(err)
	}
	steps := make(chan string, 16)
	url := startServer(t, httpHandlerFunc(func(c *Conn) {
		defer close(steps)
		try := func(what string, want bool) {
			ok, err := c.TryWritePrepared(pm)
			if ok != want || err != nil {
				t.Errorf("%s: TryWritePrepared = %v, %v; want %v, nil", what, ok, err, want)
			}
			steps <- what
		}
		tryWhileWriting(t, c, try, false)
		try("free again", true)
		c.CloseNow()
		if ok, err := c.TryWritePrepared(pm); !ok || err == nil {
			t.Errorf("after CloseNow: TryWritePrepared = %v, %v; want true and an error", ok, err)
		}
	}))
	c, _, err := Dial(testCtx(t), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	for _, want := range []string{"prepared", "fragmented", "prepared"} {
		if _, got, err := c.Read(testCtx(t)); err != nil || string(got) != want {
			t.Fatalf("read %q, %v; want %q", got, err, want)
		}
	}
	for range steps {
	}
	// Clients and kept compression contexts get no prepared frames.
	if ok, err := c.TryWritePrepared(pm); ok || err != nil {
		t.Fatalf("client: TryWritePrepared = %v, %v", ok, err)
	}
	takeover := &CompressionOptions{Mode: CompressionContextTakeover}
	done := make(chan struct{})
	url = startServer(t, httpHandlerFunc2(&AcceptOptions{Compression: takeover}, func(c *Conn) {
		defer close(done)
		if ok, err := c.TryWritePrepared(pm); ok || err != nil {
			t.Errorf("context takeover: TryWritePrepared = %v, %v", ok, err)
		}
	}))
	c2, _, err := Dial(testCtx(t), url, &DialOptions{Compression: takeover})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.CloseNow()
	<-done
}

// FuzzConnReadDeflate is FuzzConnRead with permessage-deflate negotiated.
func FuzzConnReadDeflate(f *testing.F) {
	key := uint32(0x0badf00d)
	fr := func(fin bool, rsv byte, op Opcode, p []byte) []byte {
		h := header{fin: fin, rsv: rsv, opcode: op, masked: true, length: uint64(len(p)), key: key}
		b := appendHeader(nil, h)
		start := len(b)
		b = append(b, p...)
		mask(key, 0, b[start:])
		return b
	}
	deflate := func(s string) []byte {
		var buf bytes.Buffer
		fw, _ := flate.NewWriter(&buf, flate.BestSpeed)
		fw.Write([]byte(s))
		fw.Flush()
		return bytes.TrimSuffix(buf.Bytes(), deflateTail)
	}
	f.Add(fr(true, rsv1, OpText, deflate("hello hello hello")), true)
	f.Add(append(fr(false, rsv1, OpBinary, deflate("abc")[:2]), fr(true, 0, OpContinuation, deflate("abc")[2:])...), false)
	f.Add(fr(true, rsv1, OpText, []byte{0xff, 0x00}), true)
	f.Add(fr(true, 0, OpText, []byte("plain")), false)
	f.Fuzz(func(t *testing.T, stream []byte, takeover bool) {
		o := &Options{ReadLimit: 1 << 16, CloseTimeout: 1}
		if len(stream)%2 == 1 {
			o.Buffers = dirtyBuffers{} // the borrowing path, half the time
		}
		c := newStreamConn(bytes.NewReader(stream), false, o)
		c.df = newDeflateState(&CompressionOptions{Mode: CompressionContextTakeover}, 15, takeover, takeover, 15)
		var buf []byte
		for range 50 {
			typ, msg, err := c.ReadInto(context.Background(), buf)
			if err != nil {
				var ce *CloseError
				if errors.As(err, &ce) && !ce.Local && !ce.Code.ValidReceived() && ce.Code != StatusNoStatusReceived {
					t.Fatalf("accepted close code %v", ce.Code)
				}
				return
			}
			if typ == TextMessage && !validText(msg) {
				t.Fatalf("invalid UTF-8 text accepted: %q", msg)
			}
			if len(msg) > 1<<16 {
				t.Fatalf("%d-byte message passed a 64 KiB limit", len(msg))
			}
			buf = msg
		}
	})
}

// tryWhileWriting runs try on a free connection (want true), while another
// goroutine holds the frame lock, as a pong or close frame does (want
// false), and while a message "fragmented" is being written
// (inMessage), which it then finishes.
func tryWhileWriting(t *testing.T, c *Conn, try func(what string, want bool), inMessage bool) {
	t.Helper()
	try("free", true)
	c.wmu.Lock()
	try("frame lock held", false)
	c.wmu.Unlock()
	w, err := c.Writer(context.Background(), TextMessage)
	if err != nil {
		t.Error(err)
		return
	}
	try("message in progress", inMessage)
	if _, err := w.Write([]byte("fragmented")); err != nil {
		t.Error(err)
	}
	if err := w.Close(); err != nil {
		t.Error(err)
	}
}

func TestTryPing(t *testing.T) {
	steps := make(chan string, 16)
	clientRead := make(chan struct{})
	url := startServer(t, httpHandlerFunc(func(c *Conn) {
		defer close(steps)
		try := func(what string, want bool) {
			ok, err := c.TryPing([]byte(what))
			if ok != want || err != nil {
				t.Errorf("%s: TryPing = %v, %v; want %v, nil", what, ok, err, want)
			}
			steps <- what
		}
		// A ping may go out between the frames of a message.
		tryWhileWriting(t, c, try, true)
		<-clientRead // it has answered the pings
		if _, err := c.TryPing(make([]byte, 126)); !errors.Is(err, ErrControlTooLong) {
			t.Errorf("126-byte payload: %v", err)
		}
		c.CloseNow()
		if ok, err := c.TryPing(nil); !ok || err == nil {
			t.Errorf("after CloseNow: TryPing = %v, %v; want true and an error", ok, err)
		}
	}))
	var mu sync.Mutex
	var pings []int64
	c, _, err := Dial(testCtx(t), url, &DialOptions{Options: Options{OnFrame: func(e FrameEvent) {
		if e.Opcode == OpPing && e.Direction == Inbound {
			mu.Lock()
			pings = append(pings, e.Length)
			mu.Unlock()
		}
	}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if _, got, err := c.Read(testCtx(t)); err != nil || string(got) != "fragmented" {
		t.Fatalf("read %q, %v", got, err)
	}
	close(clientRead)
	for range steps {
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []int64{int64(len("free")), int64(len("message in progress"))}; !slices.Equal(pings, want) {
		t.Fatalf("pings received with lengths %v, want %v", pings, want)
	}
}

// TestDeflateMessageAtLimit: a message exactly at ReadLimit is accepted
// whatever its compression, though its compressed frame is a little larger
// than the limit (incompressible data in stored blocks, as Node's ws sends
// 1 MiB of random bytes); one byte more is refused with 1009 as it
// inflates (PRODUCT.md §12, issue 21).
func TestDeflateMessageAtLimit(t *testing.T) {
	const limit = 64 << 10
	opts := &AcceptOptions{Options: Options{ReadLimit: limit}, Compression: &CompressionOptions{Mode: CompressionNoContextTakeover}}
	url := startServer(t, echoHandler(opts))
	compressed := func(msg []byte) []byte {
		var buf bytes.Buffer
		fw, _ := flate.NewWriter(&buf, flate.NoCompression)
		fw.Write(msg)
		fw.Flush()
		return bytes.TrimSuffix(buf.Bytes(), deflateTail)
	}
	msg := make([]byte, limit)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range msg {
		msg[i] = byte(r.Uint32())
	}
	wire := compressed(msg)
	if len(wire) <= limit {
		t.Fatalf("the compressed frame is %d bytes: the test needs it over the limit", len(wire))
	}
	p := dialPeerExt(t, url, "permessage-deflate")
	p.write(p.frame(true, rsv1, OpBinary, wire))
	h, payload, err := p.readFrame()
	if err != nil || h.opcode != OpBinary {
		t.Fatalf("echo of a message at the limit: %+v %v", h, err)
	}
	if h.rsv == rsv1 {
		payload, err = io.ReadAll(flate.NewReader(io.MultiReader(bytes.NewReader(payload), bytes.NewReader(inflateSuffix))))
	}
	if err != nil || !bytes.Equal(payload, msg) {
		t.Fatalf("echo: %d bytes, %v", len(payload), err)
	}

	over := make([]byte, limit+1)
	copy(over, msg)
	p = dialPeerExt(t, url, "permessage-deflate")
	p.write(p.frame(true, rsv1, OpBinary, compressed(over)))
	p.expectClose(StatusMessageTooBig)
}
