package protocol

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"reflect"
	"strings"
	"testing"
)

// slowReadRequest is HeadReader.ReadRequest without the lean path: what
// every head went through before it.
func slowReadRequest(h *HeadReader) (*http.Request, error) {
	req, err := http.ReadRequest(h.br)
	if err == nil {
		h.lim.left = -1
		return req, nil
	}
	return nil, h.lim.classify(err)
}

// requestDiff describes how two parsed requests differ in what a server can
// see of them, or returns "".
func requestDiff(a, b *http.Request) string {
	type view struct {
		Method, RequestURI, Proto string
		Major, Minor              int
		URL                       neturl.URL
		Header                    http.Header
		Host                      string
		Close                     bool
		ContentLength             int64
		TransferEncoding          []string
		Trailer                   http.Header
		NoBody                    bool
	}
	mk := func(r *http.Request) view {
		return view{r.Method, r.RequestURI, r.Proto, r.ProtoMajor, r.ProtoMinor, *r.URL, r.Header, r.Host, r.Close,
			r.ContentLength, r.TransferEncoding, r.Trailer, r.Body == http.NoBody}
	}
	va, vb := mk(a), mk(b)
	if !reflect.DeepEqual(va, vb) {
		return fmt.Sprintf("\n lean %+v\n http %+v", va, vb)
	}
	return ""
}

// compareReaders runs in through HeadReader.ReadRequest and through the
// net/http path alone, both with the given buffer size and head limit, and
// fails if they classify it differently, parse different requests, or leave
// different bytes after the head. It returns whether the lean path took it.
func compareReaders(t *testing.T, in string, bufSize, limit int) (lean bool) {
	t.Helper()
	h, s := NewHeadReader(bufSize), NewHeadReader(bufSize)
	h.Reset(strings.NewReader(in), limit)
	s.Reset(strings.NewReader(in), limit)
	if head := h.peekHead(); head != nil {
		_, lean = parseLean(head)
	}
	got, gerr := h.ReadRequest()
	want, werr := slowReadRequest(s)
	if gk, wk := readErrKind(gerr), readErrKind(werr); gk != wk {
		t.Fatalf("%q: lean path %s (%v), net/http %s (%v)", in, gk, gerr, wk, werr)
	}
	if gerr != nil {
		if lean {
			t.Fatalf("%q: the lean parser took a head net/http refuses: %v", in, werr)
		}
		return lean
	}
	if d := requestDiff(got, want); d != "" {
		t.Fatalf("%q: requests differ:%s", in, d)
	}
	grest, gerr := io.ReadAll(h.Reader())
	wrest, werr := io.ReadAll(s.Reader())
	if string(grest) != string(wrest) || gerr != nil || werr != nil {
		t.Fatalf("%q: after the head: lean %q (%v), net/http %q (%v)", in, grest, gerr, wrest, werr)
	}
	return lean
}

// wsctlHead is the head of a client that sends only what RFC 6455 asks.
const wsctlHead = "GET /echo HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: " + sampleKey + "\r\nSec-WebSocket-Version: 13\r\n\r\n"

var leanSeeds = []string{
	validHead,
	wsctlHead,
	benchHead,
	validHead + "\x81\x82\x01\x02\x03\x04ik",
	"GET /a/b;c=d/@x:y$&+,=~._- HTTP/1.1\r\nHost: h\r\n\r\n",
	"GET /a? HTTP/1.1\r\nHost: h\r\n\r\n",
	"GET /a?? HTTP/1.1\r\nHost: h\r\n\r\n",
	"GET /a?b=%zz&c=#d HTTP/1.1\r\nHost: h\r\n\r\n",
	"GET /%41 HTTP/1.1\r\nHost: h\r\n\r\n",
	"GET /a!b HTTP/1.1\r\nHost: h\r\n\r\n",
	"GET http://x/a HTTP/1.1\r\nHost: h\r\n\r\n",
	"GET * HTTP/1.1\r\nHost: h\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Close\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\nConnection: cloſe\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\nx: b\r\nX:\r\nX:  \t c \t \r\n\r\n",
	"GET / HTTP/1.1\r\nhOST: h\r\nsec-websocket-key: k\r\nX-\xffy: z\r\nY: \xff\x80\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\nOrigin: http://o\r\nUser-Agent: ua\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
	"GET / HTTP/1.1\r\nX: y\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
	"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\nPragma: no-cache\r\n\r\n",
	"GET / HTTP/1.0\r\nHost: h\r\n\r\n",
	"get / HTTP/1.1\r\nHost: h\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: h\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\nBad Key: v\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\nBad(Key): v\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
	"GET / HTTP/1.1\r\n Host: h\r\n\r\n",
	"GET / HTTP/1.1\nHost: h\n\n",
	"GET / HTTP/1.1\r\nHost: h\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\nX: a\x7fb\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n",
	"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + strings.Repeat("a", 5000) + "\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\n" + strings.Repeat("X-A: b\r\n", 40) + "\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\n",
	"",
	"\n0", // net/http refuses at the first line: the lean path must not read on
	"GET / HTTP/1.1\r\nBad Key: v\r\nHost: h\r\n\r\n",
}

// TestLeanHeadMatchesNetHTTP checks the lean path against net/http on the
// seeds, with a buffer that holds every head and one that holds few.
func TestLeanHeadMatchesNetHTTP(t *testing.T) {
	took := 0
	for _, in := range leanSeeds {
		for _, size := range []int{16, 64, 4096} {
			if compareReaders(t, in, size, 8192) && size == 4096 {
				took++
			}
		}
	}
	if took < 10 {
		t.Fatalf("the lean path took only %d of the seeds", took)
	}
	// The heads WebSocket clients send are the lean path's.
	for _, in := range []string{validHead, wsctlHead, benchHead} {
		h := NewHeadReader(4096)
		h.Reset(strings.NewReader(in), 8192)
		if _, ok := h.readLean(); !ok {
			t.Errorf("lean path refused %q", in)
		}
	}
}

// FuzzLeanHead is the differential fuzz test of the lean parser against
// net/http.ReadRequest: the same classification (request, 400, 431, cut
// short), the same request, the same bytes left after the head, for a
// buffer and a limit that vary with the input.
func FuzzLeanHead(f *testing.F) {
	for _, s := range leanSeeds {
		f.Add(s, uint16(4096), uint16(1024))
	}
	f.Fuzz(func(t *testing.T, in string, size, limit uint16) {
		compareReaders(t, in, int(size%5000)+16, int(limit))
	})
}

// TestAbuseRefusedAsBefore runs wsprobe-style abusive heads through the
// daemon's path (HeadReader.ReadRequest, then Upgrade) and through the
// net/http path alone: each gets the same answer both ways, the status
// pinned here (101 for the few that net/http takes and always has).
func TestAbuseRefusedAsBefore(t *testing.T) {
	key := "Sec-WebSocket-Key: " + sampleKey + "\r\n"
	base := "Host: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
	cases := []struct {
		name, in string
		status   int
	}{
		{"duplicate Host", "GET / HTTP/1.1\r\nHost: x\r\n" + base + key + "\r\n", 400},
		{"duplicate Sec-WebSocket-Key", "GET / HTTP/1.1\r\n" + base + key + key + "\r\n", 400},
		{"duplicate Sec-WebSocket-Version", "GET / HTTP/1.1\r\n" + base + key + "Sec-WebSocket-Version: 13\r\n\r\n", 426},
		{"duplicate Upgrade, one not websocket", "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" + key + "\r\n", 426},
		{"huge header", "GET / HTTP/1.1\r\n" + base + key + "X-Big: " + strings.Repeat("a", 9000) + "\r\n\r\n", 431},
		{"many headers", "GET / HTTP/1.1\r\n" + base + key + strings.Repeat("X-A: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\n", 300) + "\r\n", 431},
		{"HTTP/1.0", "GET / HTTP/1.0\r\n" + base + key + "\r\n", 400},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 405},
		// net/http takes a field name with a space in it (uncanonicalized),
		// and so the handshake succeeds, as before.
		{"header key with a space", "GET / HTTP/1.1\r\n" + base + key + "Bad Key: v\r\n\r\n", 101},
		{"header key with a parenthesis", "GET / HTTP/1.1\r\n" + base + key + "Bad(Key): v\r\n\r\n", 400},
		{"header key with a slash", "GET / HTTP/1.1\r\n" + base + key + "X/Y: v\r\n\r\n", 400},
		{"empty header key", "GET / HTTP/1.1\r\n" + base + key + ": v\r\n\r\n", 400},
		{"obs-fold", "GET / HTTP/1.1\r\n" + base + key + "X: a\r\n b\r\n\r\n", 101},              // net/http joins the lines
		{"bare LF", strings.ReplaceAll("GET / HTTP/1.1\r\n"+base+key+"\r\n", "\r\n", "\n"), 101}, // net/http takes it
		{"bare CR", "GET / HTTP/1.1\r\n" + base + key + "X: a\rb: c\r\n\r\n", 400},
		{"obs-fold first line", "GET / HTTP/1.1\r\n folded: x\r\n" + base + key + "\r\n", 400},
		{"NUL in a value", "GET / HTTP/1.1\r\n" + base + key + "X: a\x00b\r\n\r\n", 400},
		{"NUL in the target", "GET /\x00 HTTP/1.1\r\n" + base + key + "\r\n", 400},
		{"CR in a value", "GET / HTTP/1.1\r\n" + base + key + "X: a\rb\r\n\r\n", 400},
		{"missing Host", "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" + key + "\r\n", 400},
		{"POST", "POST / HTTP/1.1\r\n" + base + key + "\r\n", 405},
		{"bad key", "GET / HTTP/1.1\r\n" + base + "Sec-WebSocket-Key: short\r\n\r\n", 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			compareReaders(t, tc.in, 4096, 8192)
			for _, lean := range []bool{true, false} {
				nc := newRecordConn(tc.in)
				h := NewHeadReader(4096)
				h.Reset(nc, 8192)
				var req *http.Request
				var err error
				if lean {
					req, err = h.ReadRequest()
				} else {
					req, err = slowReadRequest(h)
				}
				status := 0
				var herr *HandshakeError
				switch {
				case err == nil:
					_, uerr := Upgrade(nc, bufio.NewReadWriter(h.Reader(), bufio.NewWriter(nc)), req, benchDaemonOptions())
					if uerr == nil {
						status = http.StatusSwitchingProtocols
						break
					}
					if !asHandshakeError(uerr, &herr) {
						t.Fatalf("lean=%v: %v", lean, uerr)
					}
					status = herr.Status
				case asHandshakeError(err, &herr):
					status = herr.Status
				default:
					t.Fatalf("lean=%v: %v", lean, err)
				}
				if status != tc.status {
					t.Fatalf("lean=%v: status %d, want %d (%v)", lean, status, tc.status, err)
				}
			}
		})
	}
}

func asHandshakeError(err error, herr **HandshakeError) bool {
	e, ok := err.(*HandshakeError)
	if !ok {
		type unwrapper interface{ Unwrap() []error }
		if u, isJoin := err.(unwrapper); isJoin {
			for _, x := range u.Unwrap() {
				if asHandshakeError(x, herr) {
					return true
				}
			}
		}
		return false
	}
	*herr = e
	return true
}

// BenchmarkReadRequest measures HeadReader.ReadRequest on the heads of a
// minimal client (wsctl's) and of a browser: "lean" is the path it takes,
// "nethttp" net/http.ReadRequest on the same reader, as before. cpu-ns/op
// is the process's CPU time per request, steadier than ns/op on a shared
// machine.
func BenchmarkReadRequest(b *testing.B) {
	for _, hc := range []struct{ name, head string }{{"minimal", wsctlHead}, {"browser", benchHead}} {
		for _, path := range []string{"lean", "nethttp"} {
			b.Run(hc.name+"/"+path, func(b *testing.B) {
				h := NewHeadReader(4096)
				var r strings.Reader
				b.ReportAllocs()
				cpu0 := processCPU()
				for b.Loop() {
					r.Reset(hc.head)
					h.Reset(&r, 8192)
					var err error
					if path == "lean" {
						_, err = h.ReadRequest()
					} else {
						_, err = slowReadRequest(h)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
			})
		}
	}
}
