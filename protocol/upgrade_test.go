package protocol

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// validHead is a minimal valid opening handshake.
const validHead = "GET /chat?x=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: " + sampleKey + "\r\nSec-WebSocket-Version: 13\r\n\r\n"

// readErrKind names how HeadReader.ReadRequest's error is to be handled.
func readErrKind(err error) string {
	var herr *HandshakeError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &herr) && herr.Status == 431 && errors.Is(err, ErrHeadTooLarge) && errors.Is(err, ErrHandshake):
		return "431"
	case errors.As(err, &herr) && herr.Status == 400 && errors.Is(err, ErrMalformedRequest) && errors.Is(err, ErrHandshake):
		return "400"
	case errors.As(err, &herr):
		return "unexpected HandshakeError " + herr.Error()
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated"
	case errors.Is(err, io.EOF):
		return "eof"
	}
	return "other: " + err.Error()
}

func TestHeadReaderReadRequest(t *testing.T) {
	cases := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{name: "valid", in: validHead, max: 1024, want: "ok"},
		{name: "exactly the limit", in: validHead, max: len(validHead), want: "ok"},
		{name: "one byte over the limit", in: validHead, max: len(validHead) - 1, want: "431"},
		{name: "long header", in: "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 2000) + "\r\n\r\n", max: 1024, want: "431"},
		{name: "endless request line", in: strings.Repeat("G", 5000), max: 1024, want: "431"},
		{name: "head above the buffer, within the limit", in: "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 6000) + "\r\n\r\n", max: 8192, want: "ok"},
		{name: "garbage", in: "HELLO\r\n\r\n", max: 1024, want: "400"},
		{name: "bad header line", in: "GET / HTTP/1.1\r\nHost x\r\n\r\n", max: 1024, want: "400"},
		{name: "bad version", in: "GET / HTTP/9.x\r\nHost: x\r\n\r\n", max: 1024, want: "400"},
		{name: "empty target", in: "GET  HTTP/1.1\r\nHost: x\r\n\r\n", max: 1024, want: "400"}, // a *url.Error, which is a net.Error
		{name: "nothing", in: "", max: 1024, want: "eof"},
		{name: "cut in the request line", in: "GET / HT", max: 1024, want: "truncated"},
		{name: "cut in a header name", in: "GET / HTTP/1.1\r\nHost: x\r\nX-Fo", max: 1024, want: "truncated"},
		{name: "cut before the blank line", in: "GET / HTTP/1.1\r\nHost: x\r\n", max: 1024, want: "truncated"},
	}
	h := NewHeadReader(4096)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h.Reset(strings.NewReader(tc.in), tc.max) // reused: Reset must clear everything
			req, err := h.ReadRequest()
			if got := readErrKind(err); got != tc.want {
				t.Fatalf("got %s (%v), want %s", got, err, tc.want)
			}
			if err == nil && req.Header.Get("Host") == "" && req.Host == "" {
				t.Fatalf("request without a host: %+v", req)
			}
		})
	}
}

// TestHeadReaderBuffered checks that the bytes past the head stay in the
// reader, and that the limit no longer applies to them.
func TestHeadReaderBuffered(t *testing.T) {
	rest := strings.Repeat("f", 3000)
	var h HeadReader // the zero value works too
	h.Reset(strings.NewReader(validHead+rest), len(validHead)+10)
	req, err := h.ReadRequest()
	if err != nil {
		t.Fatal(err)
	}
	if req.URL.Path != "/chat" || req.URL.Query().Get("x") != "1" {
		t.Fatalf("request URL %v", req.URL)
	}
	got, err := io.ReadAll(h.Reader())
	if err != nil || string(got) != rest {
		t.Fatalf("after the head: %d bytes, %v; want %d bytes", len(got), err, len(rest))
	}
}

// stalledHead makes a connection pair whose client has sent part of a head
// and then nothing: it returns the server side.
func stalledHead(t *testing.T, client, server net.Conn, part string) net.Conn {
	t.Helper()
	t.Cleanup(func() { client.Close(); server.Close() })
	written := make(chan error, 1)
	go func() { // ends once the server read the bytes, or a close
		_, err := io.WriteString(client, part)
		written <- err
	}()
	t.Cleanup(func() { <-written })
	return server
}

// TestHeadReaderDeadlineMidLine is the slowloris case: a client that stops
// in the middle of a header line until the server's deadline passes must
// be seen as a timeout, not as a malformed request.
func TestHeadReaderDeadlineMidLine(t *testing.T) {
	parts := []string{
		"",                                    // nothing sent
		"GET / HT",                            // in the request line
		"GET / HTTP/1.1\r\nHost: x\r\nX-Fo",   // in a header name
		"GET / HTTP/1.1\r\nHost: x\r\nX: 1",   // in a value
		"GET / HTTP/1.1\r\nHost: x\r\nX: 1\r", // between CR and LF
		"GET / HTTP/1.1\r\nHost: x\r\n",       // before the blank line
	}
	for _, part := range parts {
		t.Run("pipe/"+part, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				client, server := net.Pipe()
				nc := stalledHead(t, client, server, part)
				if err := nc.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
					t.Fatal(err)
				}
				h := NewHeadReader(4096)
				h.Reset(nc, 16<<10)
				_, err := h.ReadRequest()
				if got := readErrKind(err); got != "timeout" {
					t.Fatalf("got %s (%v), want timeout", got, err)
				}
			})
		})
	}
	t.Run("loopback", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		client, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		server, err := ln.Accept()
		if err != nil {
			client.Close()
			t.Fatal(err)
		}
		nc := stalledHead(t, client, server, "GET / HTTP/1.1\r\nHost: x\r\nUser-Ag")
		if err := nc.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		h := NewHeadReader(4096)
		h.Reset(nc, 16<<10)
		_, err = h.ReadRequest()
		if got := readErrKind(err); got != "timeout" {
			t.Fatalf("got %s (%v), want timeout", got, err)
		}
	})
}

// recordConn is an in-memory net.Conn that replays in and records what is
// written, call by call, and whether it was closed.
type recordConn struct {
	streamConn
	writes []string
}

func newRecordConn(in string) *recordConn {
	return &recordConn{streamConn: streamConn{r: strings.NewReader(in)}}
}

func (c *recordConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, string(p))
	return c.streamConn.Write(p)
}

func TestReject(t *testing.T) {
	nc := newRecordConn("")
	hdr := http.Header{
		"Retry-After":    {"2"},
		"X-Evil":         {"a\r\nInjected: 1"},
		"Connection":     {"keep-alive"}, // ignored: Reject closes
		"Content-Length": {"999"},        // ignored
		"Allow":          {"GET"},
	}
	if err := Reject(nc, http.StatusServiceUnavailable, hdr, "too many connections"); err != nil {
		t.Fatal(err)
	}
	want := "HTTP/1.1 503 Service Unavailable\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n" +
		"Allow: GET\r\nRetry-After: 2\r\nX-Evil: aInjected: 1\r\n" +
		"Content-Length: 21\r\n\r\ntoo many connections\n"
	if len(nc.writes) != 1 || nc.writes[0] != want {
		t.Fatalf("wrote %q\nwant  %q", nc.writes, want)
	}
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(nc.writes[0])), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil || string(body) != "too many connections\n" || !resp.Close || resp.Header.Get("Retry-After") != "2" {
		t.Fatalf("parsed %d %v body %q (%v)", resp.StatusCode, resp.Header, body, err)
	}

	nc = newRecordConn("")
	if err := Reject(nc, http.StatusRequestHeaderFieldsTooLarge, nil, ""); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(nc.writes[0], "HTTP/1.1 431 Request Header Fields Too Large\r\n") || !strings.HasSuffix(nc.writes[0], "Content-Length: 1\r\n\r\n\n") {
		t.Fatalf("wrote %q", nc.writes[0])
	}

	nc = newRecordConn("")
	nc.closed = true
	if err := Reject(nc, 400, nil, "x"); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write to a closed conn: %v", err)
	}
}

func TestUpgradeRefuses(t *testing.T) {
	cases := []struct {
		name   string
		head   string
		opts   *AcceptOptions
		status int
		header [2]string
	}{
		{name: "POST", head: strings.Replace(validHead, "GET", "POST", 1), status: 405, header: [2]string{"Allow", "GET"}},
		{name: "not an upgrade", head: "GET / HTTP/1.1\r\nHost: x\r\n\r\n", status: 426, header: [2]string{"Upgrade", "websocket"}},
		{name: "version 8", head: strings.Replace(validHead, "Version: 13", "Version: 8", 1), status: 426, header: [2]string{"Sec-Websocket-Version", "13"}},
		{name: "bad key", head: strings.Replace(validHead, sampleKey, "AAAA", 1), status: 400},
		{name: "foreign origin", head: strings.Replace(validHead, "\r\n\r\n", "\r\nOrigin: http://evil.test\r\n\r\n", 1), status: 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nc := newRecordConn(tc.head)
			h := NewHeadReader(0)
			h.Reset(nc, 0)
			req, err := h.ReadRequest()
			if err != nil {
				t.Fatal(err)
			}
			c, err := Upgrade(nc, bufio.NewReadWriter(h.Reader(), nil), req, tc.opts)
			var herr *HandshakeError
			if c != nil || !errors.As(err, &herr) || herr.Status != tc.status || !errors.Is(err, ErrHandshake) {
				t.Fatalf("Upgrade = %v, %v; want a %d HandshakeError", c, err, tc.status)
			}
			if nc.closed {
				t.Fatal("Upgrade closed the connection; the caller does")
			}
			if len(nc.writes) != 1 {
				t.Fatalf("%d writes, want one response", len(nc.writes))
			}
			resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(nc.writes[0])), nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status || !resp.Close || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Fatalf("response %d close=%v %v", resp.StatusCode, resp.Close, resp.Header)
			}
			if tc.header[0] != "" && resp.Header.Get(tc.header[0]) != tc.header[1] {
				t.Fatalf("%s = %q, want %q", tc.header[0], resp.Header.Get(tc.header[0]), tc.header[1])
			}
			body, _ := io.ReadAll(resp.Body)
			if strings.TrimSpace(string(body)) != herr.Reason {
				t.Fatalf("body %q, reason %q", body, herr.Reason)
			}
		})
	}
	t.Run("misconfigured", func(t *testing.T) {
		nc := newRecordConn("")
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(validHead)))
		if err != nil {
			t.Fatal(err)
		}
		_, err = Upgrade(nc, nil, req, &AcceptOptions{Compression: &CompressionOptions{Mode: 99}})
		var herr *HandshakeError
		if err == nil || errors.As(err, &herr) || len(nc.writes) != 1 || !strings.HasPrefix(nc.writes[0], "HTTP/1.1 500 ") {
			t.Fatalf("err %v, wrote %q", err, nc.writes)
		}
	})
}

// countWriter counts the writes that reach the connection through it.
type countWriter struct {
	w io.Writer
	n int
}

func (c *countWriter) Write(p []byte) (int, error) {
	c.n++
	return c.w.Write(p)
}

// TestUpgradeUsesCallerBuffers checks the path of servers that manage their
// own I/O: the 101 goes out through the caller's writer, and the Conn reads
// a frame the client pipelined behind its head from the caller's reader.
func TestUpgradeUsesCallerBuffers(t *testing.T) {
	frame := append(appendHeader(nil, header{fin: true, opcode: OpText, masked: true, length: 2, key: 0x01020304}), 'h', 'i')
	mask(0x01020304, 0, frame[len(frame)-2:])
	head := strings.Replace(validHead, "\r\n\r\n", "\r\nSec-WebSocket-Protocol: x, chat\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n", 1)
	nc := newRecordConn(head + string(frame))
	h := NewHeadReader(4096)
	h.Reset(nc, 16<<10)
	req, err := h.ReadRequest()
	if err != nil {
		t.Fatal(err)
	}
	// Like wsd's daemon: the bytes past the head move to a reader of the
	// caller's, and the HeadReader goes back to its pool.
	seed, _ := h.Reader().Peek(h.Reader().Buffered())
	own := io.MultiReader(bytes.NewReader(bytes.Clone(seed)), nc)
	h.Reset(nil, 0)
	cw := &countWriter{w: nc}
	opts := benchDaemonOptions()
	opts.Subprotocols = []string{"chat"}
	c, err := Upgrade(nc, bufio.NewReadWriter(bufio.NewReaderSize(own, 16), bufio.NewWriterSize(cw, opts.WriteBufferSize)), req, opts)
	if err != nil {
		t.Fatal(err)
	}
	if cw.n != 1 {
		t.Fatalf("%d writes through the caller's writer, want 1", cw.n)
	}
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(nc.writes[0])), nil)
	if err != nil || resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != acceptKey(sampleKey) {
		t.Fatalf("response %v, %v", resp, err)
	}
	if c.Subprotocol() != "chat" || !strings.HasPrefix(c.Extensions(), "permessage-deflate") {
		t.Fatalf("negotiated %q, %q", c.Subprotocol(), c.Extensions())
	}
	typ, msg, err := c.Read(testCtx(t))
	if err != nil || typ != TextMessage || string(msg) != "hi" {
		t.Fatalf("read %v %q %v", typ, msg, err)
	}
}

// FuzzUpgrade runs the path wsd's daemon runs, HeadReader.ReadRequest then
// Upgrade with the daemon's options, on arbitrary input. It checks how the
// input is classified, that a 101 only ever answers a request that
// satisfies RFC 6455 §4.2.1 (judged independently here), that every refusal
// is a complete response, and that Upgrade never closes the connection.
func FuzzUpgrade(f *testing.F) {
	f.Add(validHead)
	f.Add(validHead + "\x81\x82\x01\x02\x03\x04ik")
	f.Add("GET /a?b HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\nConnection: keep-alive, upgrade\r\nSec-WebSocket-Key: " + sampleKey + "\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: a, b\r\nOrigin: http://x\r\n\r\n")
	f.Add(strings.Replace(validHead, "\r\n\r\n", "\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=9, x\r\n\r\n", 1))
	f.Add("GET / HTTP/1.1\r\nHost: x\r\nX-Fo")
	f.Add("HELLO\r\n\r\n")
	f.Add("POST / HTTP/1.0\r\n\r\n")
	const max = 1024
	f.Fuzz(func(t *testing.T, in string) {
		nc := newRecordConn(in)
		h := NewHeadReader(4096)
		h.Reset(nc, max)
		req, err := h.ReadRequest()
		complete := strings.Contains(in, "\n\n") || strings.Contains(in, "\n\r\n")
		switch kind := readErrKind(err); kind {
		case "ok":
		case "431":
			if len(in) <= max {
				t.Fatalf("431 for %d bytes, limit %d", len(in), max)
			}
			return
		case "400":
			return
		case "eof", "truncated":
			if complete && strings.Index(in, "\n\n") < max && strings.Index(in, "\n\r\n") < max {
				t.Fatalf("%s for a head with a blank line: %v", kind, err)
			}
			return
		default:
			t.Fatalf("ReadRequest: %s", kind)
		}
		opts := benchDaemonOptions()
		opts.Subprotocols = []string{"b"}
		opts.OriginPatterns = []string{"*.example.com"}
		c, err := Upgrade(nc, bufio.NewReadWriter(h.Reader(), bufio.NewWriterSize(nc, opts.WriteBufferSize)), req, opts)
		if nc.closed {
			t.Fatal("Upgrade closed the connection")
		}
		out := strings.Join(nc.writes, "")
		if err != nil {
			var herr *HandshakeError
			if !errors.As(err, &herr) || c != nil {
				t.Fatalf("Upgrade failed without a HandshakeError: %v", err)
			}
			resp, rerr := http.ReadResponse(bufio.NewReader(strings.NewReader(out)), nil)
			if rerr != nil || resp.StatusCode != herr.Status || !resp.Close {
				t.Fatalf("refusal %q for %v: %v", out, err, rerr)
			}
			return
		}
		if c == nil || !strings.HasPrefix(out, "HTTP/1.1 101 ") {
			t.Fatalf("accepted without a 101: %q", out)
		}
		keys := req.Header.Values("Sec-WebSocket-Key")
		if req.Method != "GET" || !req.ProtoAtLeast(1, 1) || req.Host == "" || len(keys) != 1 || !validKey(strings.TrimSpace(keys[0])) ||
			len(req.Header.Values("Sec-WebSocket-Version")) != 1 || strings.TrimSpace(req.Header.Get("Sec-WebSocket-Version")) != "13" ||
			!headerHasToken(req.Header, hUpgrade, "websocket") || !headerHasToken(req.Header, hConnection, "upgrade") {
			t.Fatalf("101 for an invalid request %q", in)
		}
		if !strings.Contains(out, "Sec-WebSocket-Accept: "+acceptKey(strings.TrimSpace(keys[0]))+"\r\n") {
			t.Fatalf("wrong accept key in %q", out)
		}
	})
}

// BenchmarkReject measures a refusal as a flood of refused handshakes
// costs it: a 503 with Retry-After.
func BenchmarkReject(b *testing.B) {
	nc := &handshakeConn{}
	hdr := http.Header{"Retry-After": {"1"}}
	b.ReportAllocs()
	for b.Loop() {
		if err := Reject(nc, http.StatusServiceUnavailable, hdr, "too many connections"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestUpgradeSmallWriteBuffer checks the 101 written through a write
// buffer too small to build it in (the daemon's is 127 bytes), and that
// minResponseSize is the smallest response's size.
func TestUpgradeSmallWriteBuffer(t *testing.T) {
	if got := len(appendResponse(nil, negotiation{}, nil)); got != minResponseSize {
		t.Fatalf("smallest response %d bytes, minResponseSize %d", got, minResponseSize)
	}
	for _, size := range []int{16, 127, minResponseSize, 4096} {
		client, server := net.Pipe()
		req, err := http.NewRequest(http.MethodGet, "http://x/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		req.Header.Set("Sec-WebSocket-Version", "13")
		done := make(chan error, 1)
		go func() {
			rw := bufio.NewReadWriter(bufio.NewReader(server), bufio.NewWriterSize(server, size))
			_, err := Upgrade(server, rw, req, nil)
			done <- errors.Join(err, server.Close())
		}()
		resp, err := io.ReadAll(client)
		if err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("buffer %d: %v", size, err)
		}
		want := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
		if string(resp) != want {
			t.Fatalf("buffer %d: response %q", size, resp)
		}
	}
}
