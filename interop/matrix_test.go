package interop

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// Values every client sends; the Go side owns them and the expectations.
const (
	// sample is the multi-byte UTF-8 text (2-, 3- and 4-byte sequences).
	sample = "wsd ✓ — héllo wörld, 你好世界, 🌍🚀"
	// sampleRepeat makes the long multi-byte text well above 64 KiB.
	sampleRepeat = 2000
	closeCode    = 4000
	// closeReason must arrive intact in wsd's session row.
	closeReason = "bye — ünïcødé ✓ 🚪"
	killCode    = 4001
	killReason  = "kicked by wsctl — ünïcødé ✓"
	// maxMessage is wsd's default --max-message-size.
	maxMessage = 1 << 20

	deflateCount  = 16   // messages per compression scenario
	deflateFiller = 1024 // bytes of one repeated character per message

	badOrigin = "http://evil.example.net"
)

// Sizes straddle the 7-bit, 16-bit and 64-bit payload lengths and 64 KiB.
var (
	textSizes   = []int{0, 1, 125, 126, 127, 65535, 65536, 70000, 262144}
	binarySizes = []int{0, 1, 125, 126, 127, 65535, 65536, 65537, 262144}
)

// deflateBlock is 1024 characters of base64 of random bytes: it compresses
// to about three quarters of its size on its own, and to almost nothing
// when the compressor still holds the previous message in its window.
func deflateBlock() string {
	r := rand.New(rand.NewChaCha8([32]byte{'w', 's', 'd'}))
	b := make([]byte, 768)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return base64.StdEncoding.EncodeToString(b)
}

// deflatePayload is the total size of the compression scenario's messages
// in one direction (the clients build message i as block, filler, "#i").
func deflatePayload(block string) int64 { return deflatePayloadWith(block, deflateFiller) }

func deflatePayloadWith(block string, filler int) int64 {
	var n int64
	for i := range deflateCount {
		n += int64(len(block) + filler + 1 + len(strconv.Itoa(i)))
	}
	return n
}

// testCase is one client × scenario.
type testCase struct {
	client  string
	wsd     *wsd
	tag     string // the session's tag label
	meter   *meter // nil unless the scenario is metered
	logMark int    // wsd's log length before the client ran
	pages   *pageServer
}

type scenario struct {
	name    string
	action  string
	server  string   // the wsd instance: main, ctx or off
	clients []string // the clients that can run it
	metered bool     // the client goes through a byte-counting relay
	params  map[string]any
	// during, if set, runs while the client runs (after it started).
	during func(t *testing.T, c *testCase)
	check  func(t *testing.T, c *testCase, o observed)
}

var allClients = []string{"node", "python", "browser"}

func scenarios() []scenario {
	block := deflateBlock()
	deflate := map[string]any{"block": block, "filler": deflateFiller, "count": deflateCount}
	payload := deflatePayload(block)
	return []scenario{{
		name: "echo-text", action: "echo-text", server: "main", clients: allClients,
		params: map[string]any{"sizes": textSizes, "sample": sample, "repeat": sampleRepeat},
		check: func(t *testing.T, c *testCase, o observed) {
			wantMessages(t, o, len(textSizes)+2)
			wantClosed(t, o, 1000)
		},
	}, {
		name: "echo-binary", action: "echo-binary", server: "main", clients: allClients,
		params: map[string]any{"sizes": binarySizes},
		check: func(t *testing.T, c *testCase, o observed) {
			wantMessages(t, o, len(binarySizes))
			wantClosed(t, o, 1000)
		},
	}, {
		// The browser API cannot send fragments. Node cuts the text at byte
		// offsets 5 and 6, inside "✓" (bytes 4-6); python at characters.
		// Both compress every fragment (ws's threshold would otherwise
		// leave a message whose first fragment is short uncompressed).
		name: "fragmented", action: "fragmented", server: "main", clients: []string{"node", "python"},
		params: map[string]any{"sample": sample, "repeat": sampleRepeat, "cuts": []int{5, 6, 40001},
			"binary_size": 200000, "parts": 5,
			"node_options": map[string]any{"perMessageDeflate": map[string]any{"threshold": 0}}},
		check: func(t *testing.T, c *testCase, o observed) {
			wantMessages(t, o, 2)
			wantClosed(t, o, 1000)
		},
	}, {
		// Browsers expose no ping API (they answer wsd's pings themselves).
		name: "ping-pong", action: "ping-pong", server: "main", clients: []string{"node", "python"},
		params: map[string]any{"count": 3},
		check: func(t *testing.T, c *testCase, o observed) {
			wantMessages(t, o, 3)
			wantClosed(t, o, 1000)
		},
	}, {
		// wsd "ping" pings every 100 ms and closes a connection whose pong
		// is 1 s late. Node and python wait for 3 pings and count them
		// (a ping goes out only once the last one's pong is in); the
		// browser's pings are invisible to scripts, so it idles 2.5 s, long
		// enough to be closed twice over had its pongs been ignored.
		name: "keepalive", action: "keepalive", server: "ping", clients: allClients,
		params: map[string]any{"pings": 3, "idle_ms": 2500},
		check: func(t *testing.T, c *testCase, o observed) {
			if o.Pings != nil && *o.Pings >= 0 && *o.Pings < 3 {
				t.Errorf("client saw %d pings, want 3", *o.Pings)
			}
			wantMessages(t, o, 1)
			wantClosed(t, o, 1000)
			if s := c.wsd.closedSession(t, c.tag); s.ClosedBy != "client" {
				t.Errorf("wsd recorded closed_by=%s (%d %q), want client", s.ClosedBy, s.CloseCode, s.CloseReason)
			}
		},
	}, {
		// wsd runs with --subprotocols v2.chat,v1.chat: its preference wins.
		name: "subprotocol", action: "subprotocol", server: "main", clients: allClients,
		params: map[string]any{"protocols": []string{"x.unknown", "v1.chat", "v2.chat"}},
		check: func(t *testing.T, c *testCase, o observed) {
			if o.Protocol != "v2.chat" {
				t.Errorf("client saw subprotocol %q, want v2.chat", o.Protocol)
			}
			wantMessages(t, o, 1)
			if s := c.wsd.closedSession(t, c.tag); s.Subprotocol != "v2.chat" {
				t.Errorf("wsd recorded subprotocol %q, want v2.chat", s.Subprotocol)
			}
		},
	}, {
		name: "deflate-no-context-takeover", action: "deflate", server: "main", clients: allClients,
		metered: true, params: deflate,
		check: func(t *testing.T, c *testCase, o observed) {
			ext := wantDeflate(t, c, o)
			for _, p := range []string{"server_no_context_takeover", "client_no_context_takeover"} {
				if !slices.Contains(ext, p) {
					t.Errorf("negotiated %q lacks %s", o.Extensions, p)
				}
			}
			// Each message compressed alone: the random block costs ~3/4
			// of its size every time, the filler almost nothing.
			wantWire(t, c, payload, 0.30, 0.55)
		},
	}, {
		name: "deflate-context-takeover", action: "deflate", server: "ctx", clients: allClients,
		metered: true, params: deflate,
		check: func(t *testing.T, c *testCase, o observed) {
			ext := wantDeflate(t, c, o)
			for _, p := range ext {
				if strings.HasSuffix(p, "_no_context_takeover") {
					t.Errorf("negotiated %q: wsd --compression context-takeover should not ask for %s", o.Extensions, p)
				}
			}
			// From the second message on, the block is a back-reference.
			wantWire(t, c, payload, 0, 0.15)
		},
	}, {
		// Node and python can ask for a small LZ77 window in each direction
		// (browsers do not): wsd must answer server_max_window_bits and
		// never refer back further. Messages here are longer than the
		// window, and the context-takeover instance is the strict case.
		name: "deflate-small-window", action: "deflate", server: "ctx", clients: []string{"node", "python"},
		metered: true, params: map[string]any{"block": block, "filler": 3 * deflateFiller, "count": deflateCount, "window_bits": 10},
		check: func(t *testing.T, c *testCase, o observed) {
			ext := wantDeflate(t, c, o)
			if !slices.Contains(ext, "server_max_window_bits=10") {
				t.Errorf("negotiated %q lacks server_max_window_bits=10", o.Extensions)
			}
			wantWire(t, c, deflatePayloadWith(block, 3*deflateFiller), 0, 0.5)
		},
	}, {
		name: "compression-off", action: "deflate", server: "off", clients: allClients,
		metered: true, params: deflate,
		check: func(t *testing.T, c *testCase, o observed) {
			if o.Extensions != "" {
				t.Errorf("wsd --compression off negotiated %q", o.Extensions)
			}
			wantMessages(t, o, deflateCount)
			wantWire(t, c, payload, 1, 1.1)
		},
	}, {
		name: "close-client", action: "close-client", server: "main", clients: allClients,
		params: map[string]any{"code": closeCode, "reason": closeReason},
		check: func(t *testing.T, c *testCase, o observed) {
			wantClosed(t, o, closeCode) // wsd echoes the code (RFC 6455 §5.5.1)
			if o.CloseMS == nil || *o.CloseMS > 1000 {
				t.Errorf("closing handshake took %v ms: wsd should answer and close the TCP connection at once", o.CloseMS)
			}
			s := c.wsd.closedSession(t, c.tag)
			if s.CloseCode != closeCode || s.CloseReason != closeReason || s.ClosedBy != "client" {
				t.Errorf("wsd recorded close %d %q closed_by=%s, want %d %q closed_by=client",
					s.CloseCode, s.CloseReason, s.ClosedBy, closeCode, closeReason)
			}
		},
	}, {
		// The operator closes the connection with the real wsctl (built
		// CGO_ENABLED=0) and a token from the real `wsd token create`.
		name: "close-server-kill", action: "await-close", server: "main", clients: allClients,
		during: func(t *testing.T, c *testCase) {
			id := c.wsd.liveID(t, c.tag)
			// The kill must follow the client's "ready" echo, or the client
			// sees the close while it still waits for the echo.
			c.wsd.waitWritten(t, id, 1)
			out := c.wsd.wsctl(t, "kill", id, "--code", strconv.Itoa(killCode), "--reason", killReason)
			t.Logf("wsctl kill: %s", strings.TrimSpace(out))
		},
		check: func(t *testing.T, c *testCase, o observed) {
			wantMessages(t, o, 1)
			if o.CloseCode != killCode || o.CloseReason != killReason || !o.WasClean {
				t.Errorf("client saw close %d %q (clean: %v), want %d %q", o.CloseCode, o.CloseReason, o.WasClean, killCode, killReason)
			}
			s := c.wsd.closedSession(t, c.tag)
			if s.CloseCode != killCode || s.CloseReason != killReason || s.ClosedBy != "admin" {
				t.Errorf("wsd recorded close %d %q closed_by=%s, want %d %q closed_by=admin",
					s.CloseCode, s.CloseReason, s.ClosedBy, killCode, killReason)
			}
		},
	}, {
		// One byte above the limit, compressed by every client that can:
		// wsd refuses it once inflated.
		name: "close-server-too-big", action: "close-server-too-big", server: "main", clients: allClients,
		params: map[string]any{"size": maxMessage + 1},
		check:  wantTooBig,
	}, {
		// The same, uncompressed: wsd refuses the frame by its header and
		// closes while the client is still sending the rest.
		name: "close-server-too-big-raw", action: "close-server-too-big", server: "off", clients: allClients,
		params: map[string]any{"size": maxMessage + 1},
		check:  wantTooBig,
	}, {
		name: "origin-refused", action: "origin", server: "main", clients: allClients,
		params: map[string]any{"bad_origin": badOrigin, "page": "foreign"},
		check: func(t *testing.T, c *testCase, o observed) {
			if c.client == "browser" {
				// Scripts see only an error and 1006; wsd's log has the status.
				if o.Opened || o.CloseCode != 1006 {
					t.Errorf("page on a foreign origin: opened=%v close=%d, want a refused handshake (1006)", o.Opened, o.CloseCode)
				}
				origin := "http://" + c.pages.foreignHost()
				c.wsd.WaitLog(t, c.logMark, 10*time.Second, func(m map[string]any) bool {
					reason, _ := m["reason"].(string)
					return m["msg"] == "handshake refused" && m["status"] == float64(403) && strings.Contains(reason, strconv.Quote(origin))
				})
				return
			}
			if o.BadStatus != 403 {
				t.Errorf("Origin %s: status %d, want 403", badOrigin, o.BadStatus)
			}
			if o.GoodStatus != 101 {
				t.Errorf("allowed Origin: status %d, want 101", o.GoodStatus)
			}
		},
	}}
}

func wantMessages(t *testing.T, o observed, n int) {
	t.Helper()
	if o.Messages != n {
		t.Errorf("client checked %d messages, want %d", o.Messages, n)
	}
}

// wantClosed checks the close frame the client received.
func wantClosed(t *testing.T, o observed, code int) {
	t.Helper()
	if o.CloseCode != code || !o.WasClean {
		t.Errorf("client saw close %d %q (clean: %v), want %d", o.CloseCode, o.CloseReason, o.WasClean, code)
	}
}

// wantDeflate checks that permessage-deflate was negotiated, as the client
// and wsd saw it, and returns the response's parameters.
func wantDeflate(t *testing.T, c *testCase, o observed) []string {
	t.Helper()
	wantMessages(t, o, deflateCount)
	parts := strings.Split(o.Extensions, ";")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	if parts[0] != "permessage-deflate" {
		t.Errorf("client saw extensions %q, want permessage-deflate", o.Extensions)
	}
	if s := c.wsd.closedSession(t, c.tag); s.Extensions != o.Extensions {
		t.Errorf("wsd recorded extensions %q, the client saw %q", s.Extensions, o.Extensions)
	}
	return parts[1:]
}

// wantWire checks the bytes that crossed the relay in each direction
// against the messages' payload: lo <= wire/payload <= hi.
func wantWire(t *testing.T, c *testCase, payload int64, lo, hi float64) {
	t.Helper()
	for _, d := range []struct {
		name string
		n    int64
	}{{"client→wsd", c.meter.up.Load()}, {"wsd→client", c.meter.down.Load()}} {
		r := float64(d.n) / float64(payload)
		t.Logf("%s: %d bytes on the wire for %d bytes of messages (%.3f)", d.name, d.n, payload, r)
		if r < lo || r > hi {
			t.Errorf("%s: wire/payload = %.3f, want within [%.2f, %.2f]", d.name, r, lo, hi)
		}
	}
}

func wantTooBig(t *testing.T, c *testCase, o observed) {
	t.Helper()
	wantClosed(t, o, 1009)
	s := c.wsd.closedSession(t, c.tag)
	if s.CloseCode != 1009 || s.ClosedBy != "protocol_error" {
		t.Errorf("wsd recorded close %d closed_by=%s, want 1009 closed_by=protocol_error", s.CloseCode, s.ClosedBy)
	}
}

// TestInterop runs every client × scenario against real wsd processes.
func TestInterop(t *testing.T) {
	if utf8.RuneCountInString(sample) == len(sample) || len(sample)*sampleRepeat <= 64<<10 || len(closeReason) > 123 || len(killReason) > 123 {
		t.Fatal("constants: the sample must be multi-byte and its repetition above 64 KiB; a close reason fits 123 bytes")
	}
	pages := startPages(t)
	common := []string{"--subprotocols", "v2.chat,v1.chat", "--label-from-query", "tag",
		"--allowed-origins", pages.allowedHost()}
	servers := map[string]*wsd{
		"main": startWSD(t, "main", common...), // default: --compression no-context-takeover
		"ctx":  startWSD(t, "ctx", append([]string{"--compression", "context-takeover"}, common...)...),
		"off":  startWSD(t, "off", append([]string{"--compression", "off"}, common...)...),
		"ping": startWSD(t, "ping", append([]string{"--ping-interval", "100ms", "--pong-timeout", "1s"}, common...)...),
	}

	mx := matrix{clients: allClients}
	for _, sc := range scenarios() {
		mx.names = append(mx.names, sc.name)
	}
	t.Cleanup(func() { mx.log(t) }) // after the parallel subtests
	for _, cl := range []client{nodeClient(), pythonClient(), browserClient(pages)} {
		// The clients run side by side, each through its scenarios in turn.
		t.Run(cl.name, func(t *testing.T) {
			t.Parallel()
			missing := cl.missing()
			if missing == "" && cl.setup != nil {
				cl.setup(t)
			}
			for _, sc := range scenarios() {
				if !slices.Contains(sc.clients, cl.name) {
					continue
				}
				t.Run(sc.name, func(t *testing.T) {
					defer mx.record(t, cl.name, sc.name)
					if missing != "" {
						if inCI() {
							t.Fatalf("%s client missing: %s", cl.name, missing)
						}
						t.Skipf("%s client missing: %s", cl.name, missing)
					}
					runCase(t, cl, sc, servers[sc.server], pages)
				})
			}
		})
	}
}

func runCase(t *testing.T, cl client, sc scenario, w *wsd, pages *pageServer) {
	c := &testCase{client: cl.name, wsd: w, tag: cl.name + "-" + sc.name, logMark: w.LogCount(), pages: pages}
	addr := w.Addr
	if sc.metered {
		c.meter = startMeter(t, w.Addr)
		addr = c.meter.addr()
	}
	params := map[string]any{"url": "ws://" + addr + "/?tag=" + c.tag, "good_origin": "http://" + w.Addr}
	for k, v := range sc.params {
		params[k] = v
	}
	var during func()
	if sc.during != nil {
		during = func() { sc.during(t, c) }
	}
	o := cl.run(t, sc.action, params, during)
	t.Logf("%s: %s", cl.name, o.Library)
	sc.check(t, c, o)
}

// matrix collects each case's outcome for a summary table.
type matrix struct {
	clients []string // columns, in order
	names   []string // rows, in order

	mu     sync.Mutex
	result map[[2]string]string
}

func (m *matrix) record(t *testing.T, client, name string) {
	res := "pass"
	switch {
	case t.Failed():
		res = "FAIL"
	case t.Skipped():
		res = "skip"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.result == nil {
		m.result = map[[2]string]string{}
	}
	m.result[[2]string{client, name}] = res
}

func (m *matrix) log(t *testing.T) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-30s", "scenario")
	for _, c := range m.clients {
		fmt.Fprintf(&b, " %-8s", c)
	}
	for _, n := range m.names {
		fmt.Fprintf(&b, "\n%-30s", n)
		for _, c := range m.clients {
			r, ok := m.result[[2]string{c, n}]
			if !ok {
				r = "-"
			}
			fmt.Fprintf(&b, " %-8s", r)
		}
	}
	t.Logf("interop matrix:%s", b.String())
}
