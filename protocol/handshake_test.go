package protocol

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"reflect"
	"strings"
	"testing"
)

const sampleKey = "dGhlIHNhbXBsZSBub25jZQ=="

func TestAcceptKeyExample(t *testing.T) {
	// RFC 6455 §1.3.
	if got := acceptKey(sampleKey); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("accept key %q", got)
	}
}

// rawRequest sends a hand-written request head to the server at url and
// returns the response.
func rawRequest(t *testing.T, url, head string) *http.Response {
	t.Helper()
	nc := dialRaw(t, url)
	if _, err := io.WriteString(nc, head); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	return resp
}

func TestServerHandshakeValidation(t *testing.T) {
	opts := &AcceptOptions{Subprotocols: []string{"v2.chat", "chat"}, OriginPatterns: []string{"*.example.com"}}
	url := startServer(t, echoHandler(opts))
	good := map[string]string{
		"Upgrade":               "websocket",
		"Connection":            "Upgrade",
		"Sec-WebSocket-Key":     sampleKey,
		"Sec-WebSocket-Version": "13",
	}
	cases := []struct {
		name     string
		method   string
		proto    string
		set      map[string]string // "" deletes
		extra    string            // raw extra header lines
		status   int
		subproto string
		header   [2]string // a response header that must be present
	}{
		{name: "valid", status: 101},
		{name: "token lists and case", set: map[string]string{"Connection": "keep-alive, UPGRADE", "Upgrade": "WebSocket"}, status: 101},
		{name: "POST", method: "POST", status: 405, header: [2]string{"Allow", "GET"}},
		{name: "HTTP/1.0", proto: "HTTP/1.0", status: 400},
		{name: "no Upgrade", set: map[string]string{"Upgrade": ""}, status: 426},
		{name: "Upgrade: h2c", set: map[string]string{"Upgrade": "h2c"}, status: 426},
		{name: "no Connection upgrade", set: map[string]string{"Connection": "keep-alive"}, status: 426},
		{name: "version 8", set: map[string]string{"Sec-WebSocket-Version": "8"}, status: 426, header: [2]string{"Sec-WebSocket-Version", "13"}},
		{name: "no version", set: map[string]string{"Sec-WebSocket-Version": ""}, status: 426, header: [2]string{"Sec-WebSocket-Version", "13"}},
		{name: "two versions", extra: "Sec-WebSocket-Version: 13\r\n", status: 426},
		{name: "no key", set: map[string]string{"Sec-WebSocket-Key": ""}, status: 400},
		{name: "short key", set: map[string]string{"Sec-WebSocket-Key": "dGhlIHNhbXBsZQ=="}, status: 400},
		{name: "long key", set: map[string]string{"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZXg="}, status: 400},
		{name: "key not base64", set: map[string]string{"Sec-WebSocket-Key": "!!!!!!!!!!!!!!!!!!!!!!=="}, status: 400},
		{name: "two keys", extra: "Sec-WebSocket-Key: " + sampleKey + "\r\n", status: 400},
		{name: "same origin", set: map[string]string{"Origin": "http://HOST"}, status: 101},
		{name: "cross origin", set: map[string]string{"Origin": "http://evil.test"}, status: 403},
		{name: "origin pattern", set: map[string]string{"Origin": "https://app.example.com"}, status: 101},
		{name: "null origin", set: map[string]string{"Origin": "null"}, status: 403},
		{name: "subprotocol by server preference", set: map[string]string{"Sec-WebSocket-Protocol": "chat, v2.chat"}, status: 101, subproto: "v2.chat"},
		{name: "subprotocol over two lines", set: map[string]string{"Sec-WebSocket-Protocol": "x"}, extra: "Sec-WebSocket-Protocol: chat\r\n", status: 101, subproto: "chat"},
		{name: "no common subprotocol", set: map[string]string{"Sec-WebSocket-Protocol": "mqtt"}, status: 101},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			host := strings.TrimPrefix(url, "ws://")
			method, proto := "GET", "HTTP/1.1"
			if tc.method != "" {
				method = tc.method
			}
			if tc.proto != "" {
				proto = tc.proto
			}
			h := map[string]string{}
			for k, v := range good {
				h[k] = v
			}
			for k, v := range tc.set {
				h[k] = strings.ReplaceAll(v, "HOST", host)
			}
			var b strings.Builder
			b.WriteString(method + " / " + proto + "\r\nHost: " + host + "\r\n")
			for k, v := range h {
				if v != "" {
					b.WriteString(k + ": " + v + "\r\n")
				}
			}
			b.WriteString(tc.extra + "\r\n")
			resp := rawRequest(t, url, b.String())
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.header[0] != "" && resp.Header.Get(tc.header[0]) != tc.header[1] {
				t.Fatalf("response header %s = %q, want %q", tc.header[0], resp.Header.Get(tc.header[0]), tc.header[1])
			}
			if tc.status != 101 {
				body, _ := io.ReadAll(resp.Body)
				if len(bytes.TrimSpace(body)) == 0 {
					t.Fatal("error response without a body saying why")
				}
				return
			}
			if got := resp.Header.Get("Sec-WebSocket-Accept"); got != acceptKey(sampleKey) {
				t.Fatalf("accept %q", got)
			}
			if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != tc.subproto {
				t.Fatalf("subprotocol %q, want %q", got, tc.subproto)
			}
		})
	}
}

// rawListener serves AcceptRaw on a loopback listener, echoing one message.
func rawListener(t *testing.T, opts *AcceptOptions) (string, chan *http.Request) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	reqs := make(chan *http.Request, 16)
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				c, req, err := AcceptRaw(nc, nil, opts)
				if err != nil {
					return
				}
				reqs <- req
				typ, msg, err := c.Read(context.Background())
				if err != nil {
					return
				}
				if err := c.Write(context.Background(), typ, msg); err != nil {
					return
				}
				if err := c.Close(StatusNormalClosure, ""); err != nil {
					return
				}
			}()
		}
	}()
	return "ws://" + ln.Addr().String(), reqs
}

func TestAcceptRaw(t *testing.T) {
	url, reqs := rawListener(t, &AcceptOptions{Subprotocols: []string{"chat"}})
	ctx := testCtx(t)
	c, _, err := Dial(ctx, url+"/room?x=1", &DialOptions{Subprotocols: []string{"chat"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if c.Subprotocol() != "chat" {
		t.Fatalf("subprotocol %q", c.Subprotocol())
	}
	req := <-reqs
	if req.URL.Path != "/room" || req.URL.Query().Get("x") != "1" {
		t.Fatalf("request URL %v", req.URL)
	}
	if err := c.Write(ctx, TextMessage, []byte("raw")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.Read(ctx); err != nil || string(msg) != "raw" {
		t.Fatalf("echo %q %v", msg, err)
	}
}

func TestAcceptRawRejects(t *testing.T) {
	url, _ := rawListener(t, &AcceptOptions{MaxHeaderBytes: 1024})
	t.Run("head too large", func(t *testing.T) {
		resp := rawRequest(t, url, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 2000)+"\r\n\r\n")
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		resp := rawRequest(t, url, "HELLO\r\n\r\n")
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("not an upgrade", func(t *testing.T) {
		resp := rawRequest(t, url, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp.StatusCode != http.StatusUpgradeRequired {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}

// FuzzAcceptRaw feeds arbitrary request heads to AcceptRaw and checks that
// a 101 is only ever given to a request that satisfies RFC 6455 §4.2.1,
// judged independently here.
func FuzzAcceptRaw(f *testing.F) {
	f.Add("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + sampleKey + "\r\nSec-WebSocket-Version: 13\r\n\r\n")
	f.Add("GET /a?b HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\nConnection: keep-alive, upgrade\r\nSec-WebSocket-Key: " + sampleKey + "\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: a, b\r\nOrigin: http://x\r\n\r\n")
	f.Add("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: AAAA\r\nSec-WebSocket-Version: 13\r\n\r\n")
	f.Add("POST / HTTP/1.0\r\n\r\n")
	f.Fuzz(func(t *testing.T, head string) {
		nc := &streamConn{r: strings.NewReader(head)}
		opts := &AcceptOptions{Subprotocols: []string{"b"}, MaxHeaderBytes: 4096}
		c, _, err := AcceptRaw(nc, nil, opts)
		out := nc.w.String()
		if err == nil {
			if c == nil || !strings.HasPrefix(out, "HTTP/1.1 101 ") {
				t.Fatalf("accepted without a 101: %q", out)
			}
		} else if strings.HasPrefix(out, "HTTP/1.1 101") {
			t.Fatalf("101 answered to a failed handshake: %v", err)
		}
		if !strings.HasPrefix(out, "HTTP/1.1 101") {
			return
		}
		req, rerr := http.ReadRequest(bufio.NewReader(strings.NewReader(head)))
		if rerr != nil {
			t.Fatalf("101 for a request net/http cannot parse: %v", rerr)
		}
		keys := req.Header.Values("Sec-WebSocket-Key")
		if req.Method != "GET" || !req.ProtoAtLeast(1, 1) || req.Host == "" || len(keys) != 1 || !validKey(strings.TrimSpace(keys[0])) ||
			len(req.Header.Values("Sec-WebSocket-Version")) != 1 || strings.TrimSpace(req.Header.Get("Sec-WebSocket-Version")) != "13" {
			t.Fatalf("101 for an invalid request %q", head)
		}
		if !strings.Contains(out, "Sec-WebSocket-Accept: "+acceptKey(strings.TrimSpace(keys[0]))+"\r\n") {
			t.Fatalf("wrong accept key in %q", out)
		}
	})
}

func TestParseExtensions(t *testing.T) {
	cases := []struct {
		in   []string
		want []Extension
		bad  bool
	}{
		{in: nil, want: nil},
		{in: []string{"permessage-deflate; client_max_window_bits"}, want: []Extension{{Name: "permessage-deflate", Params: []ExtensionParam{{Name: "client_max_window_bits"}}}}},
		{in: []string{"permessage-deflate; server_max_window_bits=10, permessage-deflate"}, want: []Extension{
			{Name: "permessage-deflate", Params: []ExtensionParam{{Name: "server_max_window_bits", Value: "10", HasValue: true}}},
			{Name: "permessage-deflate"},
		}},
		{in: []string{`foo; bar="baz"`, "x-y"}, want: []Extension{{Name: "foo", Params: []ExtensionParam{{Name: "bar", Value: "baz", HasValue: true}}}, {Name: "x-y"}}},
		{in: []string{" a ;b = 1 ,, c "}, want: []Extension{{Name: "a", Params: []ExtensionParam{{Name: "b", Value: "1", HasValue: true}}}, {Name: "c"}}},
		{in: []string{"; x"}, bad: true},
		{in: []string{"a; =1"}, bad: true},
		{in: []string{`a; b="c d"`}, bad: true}, // quoted value must be a token
		{in: []string{`a; b="unterminated`}, bad: true},
		{in: []string{"a b"}, bad: true},
	}
	for _, tc := range cases {
		got, err := ParseExtensions(tc.in)
		if (err != nil) != tc.bad {
			t.Errorf("%q: error %v", tc.in, err)
			continue
		}
		if !tc.bad && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

// FuzzParseExtensions checks that whatever parses formats back to a header
// that parses to the same extensions.
func FuzzParseExtensions(f *testing.F) {
	f.Add("permessage-deflate; client_max_window_bits")
	f.Add("permessage-deflate; server_no_context_takeover; client_max_window_bits=10, permessage-deflate")
	f.Add(`a; b="c"`)
	f.Fuzz(func(t *testing.T, s string) {
		exts, err := ParseExtensions([]string{s})
		if err != nil {
			return
		}
		again, err := ParseExtensions([]string{formatExtensions(exts)})
		if err != nil || !reflect.DeepEqual(again, exts) {
			t.Fatalf("%q -> %q -> %+v, %v", s, formatExtensions(exts), again, err)
		}
	})
}

// fakeServer answers one handshake with a response built by answer, then
// runs then (if set) on the raw connection.
func fakeServer(t *testing.T, answer func(key string) string, then func(nc net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		req, err := http.ReadRequest(bufio.NewReader(nc))
		if err != nil {
			return
		}
		if _, err := io.WriteString(nc, answer(req.Header.Get("Sec-WebSocket-Key"))); err != nil {
			return
		}
		if then != nil {
			then(nc)
		}
	}()
	return "ws://" + ln.Addr().String()
}

func switching(key string, extra string) string {
	return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptKey(key) + "\r\n" + extra + "\r\n"
}

func TestDialValidatesResponse(t *testing.T) {
	cases := []struct {
		name   string
		answer func(key string) string
		opts   *DialOptions
		ok     bool
	}{
		{"valid", func(k string) string { return switching(k, "") }, nil, true},
		{"200", func(string) string { return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno" }, nil, false},
		{"wrong accept", func(string) string { return switching(sampleKey, "") }, nil, false},
		{"no upgrade", func(k string) string {
			return "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptKey(k) + "\r\n\r\n"
		}, nil, false},
		{"subprotocol not offered", func(k string) string { return switching(k, "Sec-WebSocket-Protocol: evil\r\n") }, &DialOptions{Subprotocols: []string{"chat"}}, false},
		{"subprotocol offered", func(k string) string { return switching(k, "Sec-WebSocket-Protocol: chat\r\n") }, &DialOptions{Subprotocols: []string{"v2", "chat"}}, true},
		{"extension not offered", func(k string) string { return switching(k, "Sec-WebSocket-Extensions: permessage-deflate\r\n") }, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			url := fakeServer(t, tc.answer, nil)
			c, resp, err := Dial(testCtx(t), url, tc.opts)
			if tc.ok {
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				c.CloseNow()
				return
			}
			if err == nil {
				c.CloseNow()
				t.Fatal("dial accepted a bad response")
			}
			if !errors.Is(err, ErrHandshake) || resp == nil {
				t.Fatalf("error %v (response %v) does not wrap ErrHandshake", err, resp)
			}
		})
	}
}

func TestDialRejectsBadInput(t *testing.T) {
	ctx := testCtx(t)
	for _, tc := range []struct {
		url  string
		opts *DialOptions
	}{
		{"http://127.0.0.1:1/", nil},
		{"ws://user:pw@127.0.0.1:1/", nil},
		{"ws://127.0.0.1:1/", &DialOptions{Header: http.Header{"Sec-Websocket-Key": {"x"}}}},
		{"ws://127.0.0.1:1/", &DialOptions{Subprotocols: []string{"a b"}}},
		{"ws://127.0.0.1:1/", &DialOptions{Header: http.Header{"X-Evil": {"a\r\nInjected: 1"}}}},
	} {
		if c, _, err := Dial(ctx, tc.url, tc.opts); err == nil {
			c.CloseNow()
			t.Errorf("Dial(%q) succeeded", tc.url)
		}
	}
}

// TestClientRejectsMaskedServerFrame checks the client side of §5.1: a
// masked frame from a server fails the connection with 1002.
func TestClientRejectsMaskedServerFrame(t *testing.T) {
	got := make(chan []byte, 1)
	url := fakeServer(t, func(k string) string { return switching(k, "") }, func(nc net.Conn) {
		h := header{fin: true, opcode: OpText, masked: true, length: 2, key: 1}
		if _, err := nc.Write(append(appendHeader(nil, h), 'h', 'i')); err != nil {
			return
		}
		b := make([]byte, 64)
		n, _ := io.ReadAtLeast(nc, b, 6)
		got <- b[:n]
	})
	c, _, err := Dial(testCtx(t), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if _, _, err := c.Read(testCtx(t)); closeCode(err) != StatusProtocolError {
		t.Fatalf("read: %v", err)
	}
	frame := <-got
	h, n, err := parseHeader(frame)
	if err != nil || h.opcode != OpClose || !h.masked {
		t.Fatalf("client answered %x", frame)
	}
	p := frame[n:]
	mask(h.key, 0, p)
	if code, _, _ := parseClosePayload(p); code != StatusProtocolError {
		t.Fatalf("client close code %v", code)
	}
}

// The handshake looks header names up directly in the parsed header map, so
// they must be spelled the way net/textproto stores them.
func TestHeaderNamesCanonical(t *testing.T) {
	for _, k := range []string{hConnection, hUpgrade, hOrigin, hVersion, hKey, hAccept, hProtocol, hExtensions} {
		if c := textproto.CanonicalMIMEHeaderKey(k); c != k {
			t.Errorf("%q is not canonical: %q", k, c)
		}
	}
}

// BenchmarkCheckRequest measures the server's validation of an opening
// handshake request (a browser's, with compression offered).
func BenchmarkCheckRequest(b *testing.B) {
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET /chat HTTP/1.1\r\n" +
		"Host: example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
		"Origin: http://example.com\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Key: " + sampleKey + "\r\n" +
		"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n")))
	if err != nil {
		b.Fatal(err)
	}
	opts := &AcceptOptions{Compression: &CompressionOptions{Mode: CompressionNoContextTakeover}}
	b.ReportAllocs()
	for b.Loop() {
		if _, herr, _ := checkRequest(req, opts); herr != nil {
			b.Fatal(herr)
		}
	}
}

// benchHead is a browser's opening handshake, compression offered.
const benchHead = "GET /chat HTTP/1.1\r\n" +
	"Host: example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
	"Origin: http://example.com\r\nSec-WebSocket-Version: 13\r\n" +
	"Sec-WebSocket-Key: " + sampleKey + "\r\n" +
	"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"

// handshakeConn is an in-memory net.Conn for handshake benchmarks: reads
// replay a request head once, writes are counted and dropped.
type handshakeConn struct {
	streamConn
	head    strings.Reader
	written int
}

func (c *handshakeConn) reset(head string) {
	c.head.Reset(head)
	c.written = 0
	c.streamConn = streamConn{r: &c.head}
}

func (c *handshakeConn) Write(p []byte) (int, error) {
	c.written += len(p)
	return len(p), nil
}

// benchDaemonOptions are the options wsd's daemon accepts with (see
// daemon.acceptOptions): a tiny read buffer over its own lazy reader, a
// write buffer that holds a control frame, yielding reads.
func benchDaemonOptions() *AcceptOptions {
	return &AcceptOptions{
		Options: Options{
			ReadBufferSize:    16,
			WriteBufferSize:   2 + 125,
			YieldAfterControl: true,
		},
		Compression: &CompressionOptions{Mode: CompressionNoContextTakeover},
	}
}

// BenchmarkHandshake measures a complete server handshake on an in-memory
// connection: "AcceptRaw" is the all-in-one raw path, "Product" the path
// wsd's daemon runs (a pooled, bounded reader reads the head; the
// handshake completes with the daemon's own buffers).
func BenchmarkHandshake(b *testing.B) {
	b.Run("AcceptRaw", func(b *testing.B) {
		nc := &handshakeConn{}
		opts := benchDaemonOptions()
		b.ReportAllocs()
		for b.Loop() {
			nc.reset(benchHead)
			if _, _, err := AcceptRaw(nc, nil, opts); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Product", func(b *testing.B) {
		nc := &handshakeConn{}
		opts := benchDaemonOptions()
		b.ReportAllocs()
		for b.Loop() {
			nc.reset(benchHead)
			if err := benchProductHandshake(nc, opts); err != nil {
				b.Fatal(err)
			}
		}
	})
}
