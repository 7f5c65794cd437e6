package protocol

// Side-by-side benchmarks: each one does the same work with our package,
// github.com/gorilla/websocket v1.5.3 and github.com/coder/websocket v1.8.15
// in the same run, under names of the form Benchmark<Name>/lib=<lib>/... so
// that benchstat compares the libraries column by column:
//
//	go test -run '^$' -bench . -benchmem -count 6 ./protocol/ | tee /tmp/bench.txt
//	benchstat -col /lib /tmp/bench.txt
//
// Each library is used the cheapest way its API allows for the task: our
// ReadInto with a reused buffer; gorilla's NextReader and coder's Reader
// drained into a reused bytes.Buffer (their Read/ReadMessage allocate the
// message every time).

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	cws "github.com/coder/websocket"
	gws "github.com/gorilla/websocket"
)

// benchSizes are the message sizes of the echo and frame benchmarks.
var benchSizes = []int{16, 1024, 16384}

// benchLibs lists the libraries in column order; benchstat compares the
// others to the first.
var benchLibs = []string{"wsd", "gorilla", "coder"}

// Echo over loopback TCP.

// BenchmarkEcho measures one round trip over loopback TCP: the client sends a
// binary message, the server echoes it, the client reads it back. The server
// is each library's; the client is ours in every case, so the columns differ
// only by server. Allocations are counted for both ends (they share the
// process); ours should show 0 allocs/op.
func BenchmarkEcho(b *testing.B) {
	servers := map[string]func(done chan<- struct{}) http.HandlerFunc{
		"wsd":     benchEchoWSD,
		"gorilla": benchEchoGorilla,
		"coder":   benchEchoCoder,
	}
	for _, size := range benchSizes {
		for _, lib := range benchLibs {
			b.Run(fmt.Sprintf("lib=%s/size=%d", lib, size), func(b *testing.B) {
				benchEcho(b, servers[lib], size)
			})
		}
	}
}

func benchEcho(b *testing.B, server func(done chan<- struct{}) http.HandlerFunc, size int) {
	benchEchoWith(b, server, nil, interopBinary(size))
}

// BenchmarkEchoDeflate is BenchmarkEcho with permessage-deflate (no context
// takeover, the mode all three servers support) on compressible text.
func BenchmarkEchoDeflate(b *testing.B) {
	servers := map[string]func(done chan<- struct{}) http.HandlerFunc{
		"wsd":     benchEchoWSDOpts(&AcceptOptions{Compression: &CompressionOptions{Mode: CompressionNoContextTakeover}}),
		"gorilla": benchEchoGorillaDeflate,
		"coder":   benchEchoCoderOpts(&cws.AcceptOptions{CompressionMode: cws.CompressionNoContextTakeover}),
	}
	client := &DialOptions{Compression: &CompressionOptions{Mode: CompressionNoContextTakeover}}
	for _, size := range []int{1024, 16384} {
		for _, lib := range benchLibs {
			b.Run(fmt.Sprintf("lib=%s/size=%d", lib, size), func(b *testing.B) {
				benchEchoWith(b, servers[lib], client, compressibleText(size, 7))
			})
		}
	}
}

func benchEchoWith(b *testing.B, server func(done chan<- struct{}) http.HandlerFunc, dopts *DialOptions, msg []byte) {
	size := len(msg)
	done := make(chan struct{})
	srv := httptest.NewServer(server(done))
	defer srv.Close()
	dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := Dial(dctx, "ws"+strings.TrimPrefix(srv.URL, "http"), dopts)
	if err != nil {
		b.Fatal(err)
	}
	defer c.CloseNow() // ends the server's loop if the benchmark fails
	if dopts != nil && dopts.Compression != nil && c.Extensions() == "" {
		b.Fatal("compression was not negotiated")
	}

	ctx := context.Background()
	buf := make([]byte, 0, size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Write(ctx, BinaryMessage, msg); err != nil {
			b.Fatal(err)
		}
		_, got, err := c.ReadInto(ctx, buf)
		if err != nil {
			b.Fatal(err)
		}
		if len(got) != size {
			b.Fatalf("echo of %d bytes came back with %d", size, len(got))
		}
		buf = got
	}
	b.StopTimer()
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		b.Fatal(err)
	}
	select {
	case <-done:
	case <-dctx.Done():
		b.Fatal("the echo server did not finish")
	}
}

// benchEchoWSD is our echo server: ReadInto with a reused buffer and Write
// with a context that is never cancelled.
func benchEchoWSD(done chan<- struct{}) http.HandlerFunc { return benchEchoWSDOpts(nil)(done) }

func benchEchoWSDOpts(opts *AcceptOptions) func(done chan<- struct{}) http.HandlerFunc {
	return func(done chan<- struct{}) http.HandlerFunc { return benchEchoWSDServe(done, opts) }
}

func benchEchoWSDServe(done chan<- struct{}, opts *AcceptOptions) http.HandlerFunc {
	echo := echoHandler(opts)
	return func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		echo(w, r)
	}
}

// benchEchoGorilla echoes with gorilla: NextReader into a reused buffer, then
// WriteMessage (a server's single-frame fast path).
func benchEchoGorilla(done chan<- struct{}) http.HandlerFunc {
	return benchEchoGorillaServe(done, false)
}

// benchEchoGorillaDeflate is benchEchoGorilla with compression on.
func benchEchoGorillaDeflate(done chan<- struct{}) http.HandlerFunc {
	return benchEchoGorillaServe(done, true)
}

func benchEchoGorillaServe(done chan<- struct{}, compress bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		u := gws.Upgrader{EnableCompression: compress}
		c, err := u.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		c.EnableWriteCompression(compress)
		var buf bytes.Buffer
		for {
			typ, rd, err := c.NextReader()
			if err != nil {
				return
			}
			buf.Reset()
			if _, err := buf.ReadFrom(rd); err != nil {
				return
			}
			if err := c.WriteMessage(typ, buf.Bytes()); err != nil {
				return
			}
		}
	}
}

// benchEchoCoder echoes with coder: Reader into a reused buffer, then Write.
func benchEchoCoder(done chan<- struct{}) http.HandlerFunc { return benchEchoCoderOpts(nil)(done) }

func benchEchoCoderOpts(opts *cws.AcceptOptions) func(done chan<- struct{}) http.HandlerFunc {
	return func(done chan<- struct{}) http.HandlerFunc { return benchEchoCoderServe(done, opts) }
}

func benchEchoCoderServe(done chan<- struct{}, opts *cws.AcceptOptions) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		c, err := cws.Accept(w, r, opts)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := context.Background()
		var buf bytes.Buffer
		for {
			typ, rd, err := c.Reader(ctx)
			if err != nil {
				return
			}
			buf.Reset()
			if _, err := buf.ReadFrom(rd); err != nil {
				return
			}
			if err := c.Write(ctx, typ, buf.Bytes()); err != nil {
				return
			}
		}
	}
}

// Frames without a network.
//
// gorilla v1.5.3 does not export a constructor over a net.Conn, and coder
// builds its Conn only in Accept and Dial. All three are therefore set up
// through their public handshakes over benchConn, an in-memory connection: a
// server through a ResponseWriter whose Hijack returns it, a client through a
// dial hook (NetDialContext, or for coder an http.RoundTripper) that answers
// the handshake itself. Nothing touches the network.

// BenchmarkFrameRead measures reading one single-frame binary message: masked
// frames as a server reads them, unmasked ones as a client does.
func BenchmarkFrameRead(b *testing.B) {
	for _, side := range []string{"server", "client"} {
		for _, size := range benchSizes {
			for _, lib := range benchLibs {
				b.Run(fmt.Sprintf("lib=%s/side=%s/size=%d", lib, side, size), func(b *testing.B) {
					nc := &benchConn{src: benchFrame(size, side == "server")}
					read := benchReader(b, lib, side, nc)
					b.SetBytes(int64(size))
					b.ReportAllocs()
					for b.Loop() {
						if n := read(); n != size {
							b.Fatalf("read %d bytes, want %d", n, size)
						}
					}
				})
			}
		}
	}
}

// BenchmarkFrameWrite measures writing one binary message: unmasked as a
// server, masked as a client.
func BenchmarkFrameWrite(b *testing.B) {
	for _, side := range []string{"server", "client"} {
		for _, size := range benchSizes {
			for _, lib := range benchLibs {
				b.Run(fmt.Sprintf("lib=%s/side=%s/size=%d", lib, side, size), func(b *testing.B) {
					nc := &benchConn{}
					write := benchWriter(b, lib, side, nc)
					msg := interopBinary(size)
					b.SetBytes(int64(size))
					b.ReportAllocs()
					for b.Loop() {
						write(msg)
					}
					if nc.written < int64(size)*int64(b.N) {
						b.Fatalf("%d bytes reached the connection for %d messages of %d", nc.written, b.N, size)
					}
				})
			}
		}
	}
}

// benchReader opens lib's side of a connection over nc and returns a
// function that reads one message and returns its length.
func benchReader(b *testing.B, lib, side string, nc *benchConn) func() int {
	ctx := context.Background()
	var bb bytes.Buffer
	switch lib {
	case "wsd":
		c := benchOpenWSD(b, side, nc)
		var buf []byte
		return func() int {
			_, msg, err := c.ReadInto(ctx, buf)
			if err != nil {
				b.Fatal(err)
			}
			buf = msg
			return len(msg)
		}
	case "gorilla":
		c := benchOpenGorilla(b, side, nc)
		return func() int {
			_, r, err := c.NextReader()
			if err != nil {
				b.Fatal(err)
			}
			bb.Reset()
			if _, err := bb.ReadFrom(r); err != nil {
				b.Fatal(err)
			}
			return bb.Len()
		}
	default:
		c := benchOpenCoder(b, side, nc)
		return func() int {
			_, r, err := c.Reader(ctx)
			if err != nil {
				b.Fatal(err)
			}
			bb.Reset()
			if _, err := bb.ReadFrom(r); err != nil {
				b.Fatal(err)
			}
			return bb.Len()
		}
	}
}

// benchWriter opens lib's side of a connection over nc and returns a
// function that writes one binary message.
func benchWriter(b *testing.B, lib, side string, nc *benchConn) func([]byte) {
	ctx := context.Background()
	switch lib {
	case "wsd":
		c := benchOpenWSD(b, side, nc)
		return func(p []byte) {
			if err := c.Write(ctx, BinaryMessage, p); err != nil {
				b.Fatal(err)
			}
		}
	case "gorilla":
		c := benchOpenGorilla(b, side, nc)
		return func(p []byte) {
			if err := c.WriteMessage(gws.BinaryMessage, p); err != nil {
				b.Fatal(err)
			}
		}
	default:
		c := benchOpenCoder(b, side, nc)
		return func(p []byte) {
			if err := c.Write(ctx, cws.MessageBinary, p); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// benchDialURL is the URL the in-memory clients dial; no socket is opened.
const benchDialURL = "ws://127.0.0.1/bench"

func benchOpenWSD(b *testing.B, side string, nc *benchConn) *Conn {
	if side == "server" {
		c, err := Accept(newBenchHijacker(nc), benchUpgradeRequest(), nil)
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	nc.answerHandshake = true
	c, _, err := Dial(context.Background(), benchDialURL, &DialOptions{
		NetDialContext: func(context.Context, string, string) (net.Conn, error) { return nc, nil },
	})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func benchOpenGorilla(b *testing.B, side string, nc *benchConn) *gws.Conn {
	if side == "server" {
		var u gws.Upgrader
		c, err := u.Upgrade(newBenchHijacker(nc), benchUpgradeRequest(), nil)
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	nc.answerHandshake = true
	d := gws.Dialer{NetDialContext: func(context.Context, string, string) (net.Conn, error) { return nc, nil }}
	c, _, err := d.DialContext(context.Background(), benchDialURL, nil)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func benchOpenCoder(b *testing.B, side string, nc *benchConn) *cws.Conn {
	var c *cws.Conn
	var err error
	if side == "server" {
		c, err = cws.Accept(newBenchHijacker(nc), benchUpgradeRequest(), nil)
	} else {
		hc := &http.Client{Transport: benchRoundTripper{nc}}
		c, _, err = cws.Dial(context.Background(), benchDialURL, &cws.DialOptions{HTTPClient: hc})
	}
	if err != nil {
		b.Fatal(err)
	}
	c.SetReadLimit(-1)
	return c
}

// benchFrame returns a final binary frame of size bytes, masked (as a client
// sends it) or not.
func benchFrame(size int, masked bool) []byte {
	h := header{fin: true, opcode: OpBinary, masked: masked, length: uint64(size), key: 0x9abcdef0}
	f := appendHeader(nil, h)
	payload := interopBinary(size)
	if masked {
		mask(h.key, 0, payload)
	}
	return append(f, payload...)
}

// benchUpgradeRequest is a valid opening handshake request, already parsed.
func benchUpgradeRequest() *http.Request {
	r := httptest.NewRequest(http.MethodGet, benchDialURL, nil)
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Sec-WebSocket-Version", "13")
	r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	return r
}

// benchUpgradeResponse answers a client's opening handshake.
func benchUpgradeResponse(key string) []byte {
	return []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptKey(key) + "\r\n\r\n")
}

// benchConn is an in-memory net.Conn. Reads return pending, then replay src
// forever (io.EOF if it is empty). Writes are counted and dropped, except
// that while answerHandshake is set they are collected as a client's
// handshake request, and the 101 response becomes pending. It is used by one
// goroutine at a time.
type benchConn struct {
	src     []byte
	off     int
	pending []byte
	written int64

	answerHandshake bool
	request         []byte
}

func (c *benchConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	if len(c.src) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.src[c.off:])
	c.off = (c.off + n) % len(c.src)
	return n, nil
}

func (c *benchConn) Write(p []byte) (int, error) {
	c.written += int64(len(p))
	if !c.answerHandshake {
		return len(p), nil
	}
	c.request = append(c.request, p...)
	if !bytes.Contains(c.request, []byte("\r\n\r\n")) {
		return len(p), nil
	}
	c.answerHandshake = false
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(c.request)))
	if err != nil {
		return 0, fmt.Errorf("bench handshake: %w", err)
	}
	c.pending = benchUpgradeResponse(req.Header.Get("Sec-WebSocket-Key"))
	return len(p), nil
}

var benchAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}

func (c *benchConn) Close() error                     { return nil }
func (c *benchConn) LocalAddr() net.Addr              { return benchAddr }
func (c *benchConn) RemoteAddr() net.Addr             { return benchAddr }
func (c *benchConn) SetDeadline(time.Time) error      { return nil }
func (c *benchConn) SetReadDeadline(time.Time) error  { return nil }
func (c *benchConn) SetWriteDeadline(time.Time) error { return nil }

// benchHijacker is an http.ResponseWriter whose Hijack hands over a
// benchConn, the way net/http hands over a TCP connection.
type benchHijacker struct {
	h   http.Header
	nc  net.Conn
	brw *bufio.ReadWriter
}

func newBenchHijacker(nc net.Conn) *benchHijacker {
	return &benchHijacker{
		h:   http.Header{},
		nc:  nc,
		brw: bufio.NewReadWriter(bufio.NewReaderSize(nc, DefaultBufferSize), bufio.NewWriterSize(nc, DefaultBufferSize)),
	}
}

func (w *benchHijacker) Header() http.Header         { return w.h }
func (w *benchHijacker) Write(p []byte) (int, error) { return len(p), nil }
func (w *benchHijacker) WriteHeader(int)             {}
func (w *benchHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return w.nc, w.brw, nil
}

// benchRoundTripper answers coder's handshake request with a 101 response
// whose body is the connection, as net/http's transport does.
type benchRoundTripper struct{ nc *benchConn }

func (t benchRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(benchUpgradeResponse(r.Header.Get("Sec-WebSocket-Key")))), r)
	if err != nil {
		return nil, err
	}
	resp.Body = t.nc
	return resp, nil
}

// Masking.

// BenchmarkMask compares our mask with the byte-at-a-time loop of RFC 6455
// §5.3. gorilla's and coder's masking functions are unexported, so they
// cannot be called here; their cost shows in BenchmarkFrameWrite/side=client
// and BenchmarkFrameRead/side=server.
func BenchmarkMask(b *testing.B) {
	const key = 0x12345678
	wire := [4]byte{0x78, 0x56, 0x34, 0x12} // key's bytes in wire order
	for _, size := range []int{16, 1024, 65536} {
		// Both implementations agree before they are timed.
		want, got := interopBinary(size), interopBinary(size)
		benchMaskNaive(wire, want)
		mask(key, 0, got)
		if !bytes.Equal(got, want) {
			b.Fatalf("size %d: mask and the naive loop disagree", size)
		}
		p := interopBinary(size)
		b.Run(fmt.Sprintf("lib=wsd/size=%d", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				mask(key, 0, p)
			}
		})
		b.Run(fmt.Sprintf("lib=naive/size=%d", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				benchMaskNaive(wire, p)
			}
		})
	}
}

// benchMaskNaive is the masking loop as RFC 6455 §5.3 writes it.
func benchMaskNaive(key [4]byte, p []byte) {
	for i := range p {
		p[i] ^= key[i&3]
	}
}

// UTF-8 validation.

// BenchmarkUTF8 compares our incremental validator with unicode/utf8.Valid
// on a whole message (lib=wsd), and on the same message fed in 1000-byte
// pieces that cut multi-byte sequences, as reads deliver it
// (lib=wsd-pieces).
func BenchmarkUTF8(b *testing.B) {
	const piece = 1000
	inputs := []struct {
		name string
		text func(n int) []byte
	}{
		{"ascii", func(n int) []byte {
			return []byte(strings.Repeat("The quick brown fox jumps over the lazy dog. ", n/45+1)[:n])
		}},
		{"mixed", interopText},
	}
	for _, in := range inputs {
		for _, size := range []int{1024, 65536} {
			p := in.text(size)
			if !utf8.Valid(p) || len(p) != size {
				b.Fatalf("%s input of %d bytes is not valid UTF-8", in.name, size)
			}
			b.Run(fmt.Sprintf("lib=wsd/input=%s/size=%d", in.name, size), func(b *testing.B) {
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if !u8Accept.feed(p).complete() {
						b.Fatal("rejected")
					}
				}
			})
			b.Run(fmt.Sprintf("lib=stdlib/input=%s/size=%d", in.name, size), func(b *testing.B) {
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if !utf8.Valid(p) {
						b.Fatal("rejected")
					}
				}
			})
			b.Run(fmt.Sprintf("lib=wsd-pieces/input=%s/size=%d", in.name, size), func(b *testing.B) {
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					s := u8Accept
					for q := p; len(q) > 0; {
						n := min(piece, len(q))
						s = s.feed(q[:n])
						q = q[n:]
					}
					if !s.complete() {
						b.Fatal("rejected")
					}
				}
			})
		}
	}
}

// TestEchoAllocs keeps our echo path allocation-free: after warm-up, a round
// trip over loopback TCP (client Write and ReadInto, server ReadInto and
// Write) allocates nothing in either end.
func TestEchoAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation count needs a quiet process")
	}
	done := make(chan struct{})
	url := startServer(t, benchEchoWSD(done))
	ctx := context.Background()
	dctx := testCtx(t)
	c, _, err := Dial(dctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	for _, size := range benchSizes {
		msg := interopBinary(size)
		var buf []byte
		var rerr error
		roundTrip := func() {
			if err := c.Write(ctx, BinaryMessage, msg); err != nil {
				rerr = err
				return
			}
			_, buf, err = c.ReadInto(ctx, buf)
			if err != nil {
				rerr = err
			}
		}
		roundTrip() // grows the buffers
		allocs := testing.AllocsPerRun(200, roundTrip)
		if rerr != nil {
			t.Fatal(rerr)
		}
		if allocs != 0 {
			t.Errorf("size %d: %v allocations per echo round trip, want 0", size, allocs)
		}
	}
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-dctx.Done():
		t.Fatal("the echo server did not finish")
	}
}
