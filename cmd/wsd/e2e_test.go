package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsd-dev/wsd/protocol"
)

var echoSizes = []int{0, 1, 125, 126, 127, 1000, 4096, 16 << 10, 16<<10 + 1, 65535, 65536, 65537, 256 << 10, 1<<20 - 1, 1 << 20}

func TestEchoAllSizes(t *testing.T) {
	t.Parallel()
	w := startWSD(t, wsdOpts{})
	t.Run("protocol client", func(t *testing.T) {
		c := dialWS(t, w.url("/"), nil)
		for _, n := range echoSizes {
			for _, typ := range []protocol.MessageType{protocol.TextMessage, protocol.BinaryMessage} {
				p := bytes.Repeat([]byte("é"), n/2)
				if n%2 == 1 {
					p = append(p, 'x')
				}
				if err := c.Write(context.Background(), typ, p); err != nil {
					t.Fatal(err)
				}
				gt, got := readMessage(t, c)
				if gt != typ || !bytes.Equal(got, p) {
					t.Fatalf("%d bytes %v: echoed %d bytes %v", n, typ, len(got), gt)
				}
			}
		}
		if err := c.Close(protocol.StatusNormalClosure, "done"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("gorilla client", func(t *testing.T) {
		c, _, err := websocket.DefaultDialer.Dial(w.url("/echo/sub/path"), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for _, n := range echoSizes {
			p := bytes.Repeat([]byte{0xfe}, n)
			if err := c.WriteMessage(websocket.BinaryMessage, p); err != nil {
				t.Fatal(err)
			}
			typ, got, err := c.ReadMessage()
			if err != nil || typ != websocket.BinaryMessage || !bytes.Equal(got, p) {
				t.Fatalf("%d bytes: %v, type %d, %d bytes", n, err, typ, len(got))
			}
		}
		// Over the default 1 MiB limit: closed with 1009.
		if err := c.WriteMessage(websocket.BinaryMessage, make([]byte, 1<<20+1)); err != nil {
			t.Fatal(err)
		}
		_, _, err = c.ReadMessage()
		if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
			t.Fatalf("oversized message: %v", err)
		}
	})
	ss := waitSessions(t, w.StateDir, "both sessions closed", func(ss []sessionRow) bool {
		return len(ss) == 2 && ss[0].Closed && ss[1].Closed
	})
	if ss[0].ClosedBy != "client" || ss[0].CloseCode != 1000 || ss[0].CloseReason != "done" || ss[0].MessagesIn != int64(2*len(echoSizes)) {
		t.Errorf("protocol client session: %+v", ss[0])
	}
	if ss[1].ClosedBy != "protocol_error" || ss[1].CloseCode != 1009 {
		t.Errorf("gorilla session: %+v", ss[1])
	}
}

func TestRelayRooms(t *testing.T) {
	t.Parallel()
	w := startWSD(t, wsdOpts{args: []string{"--route", "/chat=relay:room", "--label-from-query", "room",
		"--route", "/=echo", "--route-label", "/chat:tier=gold"}})
	a := dialWS(t, w.url("/chat?room=lobby"), nil)
	b, _, err := websocket.DefaultDialer.Dial(w.url("/chat?room=lobby"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	other := dialWS(t, w.url("/chat?room=kitchen"), nil)
	waitSessions(t, w.StateDir, "three sessions", func(ss []sessionRow) bool { return len(ss) == 3 })

	if err := a.Write(context.Background(), protocol.TextMessage, []byte("hi from a")); err != nil {
		t.Fatal(err)
	}
	if _, p, err := b.ReadMessage(); err != nil || string(p) != "hi from a" {
		t.Fatalf("b: %q %v", p, err)
	}
	if err := other.Write(context.Background(), protocol.TextMessage, []byte("kitchen only")); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	// a gets b's message and not the other room's (nor its own).
	if typ, p := readMessage(t, a); typ != protocol.BinaryMessage || !bytes.Equal(p, []byte{1, 2, 3}) {
		t.Fatalf("a got %v %q", typ, p)
	}
	if st, _ := dialStatus(t, w.url("/chat"), nil); st != http.StatusBadRequest {
		t.Fatalf("relay without room label: %d", st)
	}
	ss := sessions(t, w.StateDir)
	if !strings.Contains(ss[0].Labels, `"room":"lobby"`) || !strings.Contains(ss[0].Labels, `"tier":"gold"`) {
		t.Fatalf("labels recorded: %s", ss[0].Labels)
	}
}

// hookRecorder is a webhook upstream.
type hookRecorder struct {
	mu     sync.Mutex
	events []http.Header
	bodies []string
}

func (h *hookRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	if ev := r.Header.Get("Wsd-Event"); ev != "" {
		h.events = append(h.events, r.Header.Clone())
	} else {
		h.bodies = append(h.bodies, string(body))
	}
	h.mu.Unlock()
	if r.URL.Path == "/deny" && r.Header.Get("Wsd-Event") == "connect" {
		http.Error(w, "no", http.StatusForbidden)
		return
	}
	if r.Header.Get("Wsd-Event") != "" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	switch string(body) {
	case "slow":
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
		return
	case "fail":
		http.Error(w, "upstream broke", http.StatusInternalServerError)
		return
	case "quiet":
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "re:%s|%s|%s", body, r.Header.Get("Wsd-Route"), r.Header.Get("Content-Type"))
}

func (h *hookRecorder) closeEvents() []http.Header {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []http.Header
	for _, e := range h.events {
		if e.Get("Wsd-Event") == "close" {
			out = append(out, e)
		}
	}
	return out
}

func TestWebhook(t *testing.T) {
	t.Parallel()
	up := &hookRecorder{}
	srv := httptest.NewServer(up)
	defer srv.Close()
	w := startWSD(t, wsdOpts{args: []string{
		"--route", "/hook=webhook:" + srv.URL + "/ok",
		"--route", "/deny=webhook:" + srv.URL + "/deny",
		"--route", "/dead=webhook:http://127.0.0.1:1/nothing",
		"--route", "/hook2=webhook:" + srv.URL + "/ok",
		"--webhook-timeout", "500ms",
	}})
	c := dialWS(t, w.url("/hook"), nil)
	send := func(s string) {
		t.Helper()
		if err := c.Write(context.Background(), protocol.TextMessage, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	send("hello")
	if _, p := readMessage(t, c); string(p) != "re:hello|/hook|text/plain; charset=utf-8" {
		t.Fatalf("reply %q", p)
	}
	// A failing upstream and a slow one: logged, nothing sent, the
	// connection lives on.
	n := w.LogCount()
	send("fail")
	w.waitLogAfter(n, "webhook upstream answered an error; message not delivered", 5*time.Second)
	// The slow upstream on another route: failure logs are throttled to
	// one a second per route.
	c2 := dialWS(t, w.url("/hook2"), nil)
	n = w.LogCount()
	start := time.Now()
	if err := c2.Write(context.Background(), protocol.TextMessage, []byte("slow")); err != nil {
		t.Fatal(err)
	}
	w.waitLogAfter(n, "webhook upstream failed; message not delivered", 5*time.Second)
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("slow upstream took %v, webhook timeout is 500ms", el)
	}
	if err := c2.Write(context.Background(), protocol.TextMessage, []byte("after slow")); err != nil {
		t.Fatal(err)
	}
	if _, p := readMessage(t, c2); !strings.HasPrefix(string(p), "re:after slow|/hook2|") {
		t.Fatalf("after a slow upstream: %q", p)
	}
	send("quiet")
	send("again")
	if _, p := readMessage(t, c); !strings.HasPrefix(string(p), "re:again|") {
		t.Fatalf("after failures: %q", p)
	}
	// Binary messages are posted as octet-stream.
	if err := c.Write(context.Background(), protocol.BinaryMessage, []byte{0, 1}); err != nil {
		t.Fatal(err)
	}
	if _, p := readMessage(t, c); !strings.HasSuffix(string(p), "|application/octet-stream") {
		t.Fatalf("binary reply %q", p)
	}
	if err := c.Close(protocol.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(up.closeEvents()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	ev := up.closeEvents()
	if len(ev) != 1 || ev[0].Get("Wsd-Closed-By") != "client" || ev[0].Get("Wsd-Close-Code") != "1000" || ev[0].Get("Wsd-Connection-Id") == "" {
		t.Fatalf("close events: %v", ev)
	}
	// Connect refused by the application: its status.
	if st, _ := dialStatus(t, w.url("/deny"), nil); st != http.StatusForbidden {
		t.Fatalf("denied connect: %d", st)
	}
	// Upstream unreachable: 502.
	if st, _ := dialStatus(t, w.url("/dead"), nil); st != http.StatusBadGateway {
		t.Fatalf("dead upstream connect: %d", st)
	}
}

// smallRcvBuf dials with a tiny receive buffer, so that a client that does
// not read pushes back at once.
func smallRcvBuf() *protocol.DialOptions {
	d := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	return &protocol.DialOptions{NetDialContext: d.DialContext}
}

func TestSlowConsumer(t *testing.T) {
	t.Parallel()
	w := startWSD(t, wsdOpts{args: []string{"--route", "/feed=relay:room", "--label-from-query", "room",
		"--send-queue-bytes", "4MiB", "--write-timeout", "5s", "--max-message-size", "64KiB"}})
	slow := dialWS(t, w.url("/feed?room=r"), smallRcvBuf())
	fast := dialWS(t, w.url("/feed?room=r"), nil)
	producer := dialWS(t, w.url("/feed?room=r"), nil)
	waitSessions(t, w.StateDir, "three sessions", func(ss []sessionRow) bool { return len(ss) == 3 })
	slowID := sessions(t, w.StateDir)[0].ID

	const n, size = 1200, 16 << 10 // 19 MiB: more than the socket buffers and the queue hold
	var lat []time.Duration
	done := make(chan error, 1)
	go func() {
		for i := range n {
			_, p, err := fast.Read(context.Background())
			if err != nil {
				done <- fmt.Errorf("fast client, message %d: %w", i, err)
				return
			}
			lat = append(lat, time.Since(time.Unix(0, int64(binary.BigEndian.Uint64(p)))))
		}
		done <- nil
	}()
	msg := make([]byte, size)
	tick := time.NewTicker(2 * time.Millisecond) // 8 MiB/s: a pace a healthy client keeps, even under -race
	defer tick.Stop()
	for range n {
		<-tick.C
		binary.BigEndian.PutUint64(msg, uint64(time.Now().UnixNano()))
		if err := producer.Write(context.Background(), protocol.BinaryMessage, msg); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	slices.Sort(lat)
	p99 := lat[len(lat)*99/100]
	t.Logf("fast consumer latency: p50 %v p99 %v max %v", lat[len(lat)/2], p99, lat[len(lat)-1])
	if p99 > 2*time.Second {
		t.Errorf("fast consumer p99 latency %v", p99)
	}
	ss := waitSessions(t, w.StateDir, "the slow consumer closed", func(ss []sessionRow) bool {
		return len(ss) == 3 && ss[0].Closed
	})
	if ss[0].ID != slowID || ss[0].ClosedBy != "slow_consumer" || ss[0].CloseCode != 1008 {
		t.Fatalf("slow session: %+v", ss[0])
	}
	if ss[1].Closed || ss[2].Closed {
		t.Fatalf("fast sessions closed: %+v", ss[1:])
	}
	_ = slow
}

func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	w := startWSD(t, wsdOpts{args: []string{"--ping-interval", "100ms", "--pong-timeout", "300ms"}})
	// A client that never reads never answers pings.
	mute := dialWS(t, w.url("/"), nil)
	live := dialWS(t, w.url("/"), nil)
	go func() {
		for {
			if _, _, err := live.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	start := time.Now()
	ss := waitSessions(t, w.StateDir, "the mute client closed", func(ss []sessionRow) bool { return len(ss) == 2 && ss[0].Closed })
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("idle client closed after %v; ping 100ms + pong 300ms", el)
	}
	if ss[0].ClosedBy != "idle_timeout" || ss[0].CloseCode != 4408 {
		t.Fatalf("mute session: %+v", ss[0])
	}
	time.Sleep(600 * time.Millisecond) // six ping intervals, two pong timeouts
	if ss := sessions(t, w.StateDir); ss[1].Closed {
		t.Fatalf("client answering pings was closed: %+v", ss[1])
	}
	_ = mute
}

func TestConnectionLimits(t *testing.T) {
	t.Parallel()
	t.Run("max-connections", func(t *testing.T) {
		t.Parallel()
		w := startWSD(t, wsdOpts{args: []string{"--max-connections", "3"}})
		for range 3 {
			dialWS(t, w.url("/"), nil)
		}
		st, h := dialStatus(t, w.url("/"), nil)
		if st != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
			t.Fatalf("4th connection: %d %v", st, h)
		}
		// gorilla sees the same 503.
		_, resp, err := websocket.DefaultDialer.Dial(w.url("/"), nil)
		if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("gorilla 4th connection: %v %v", err, resp)
		}
	})
	t.Run("per-ip", func(t *testing.T) {
		t.Parallel()
		w := startWSD(t, wsdOpts{args: []string{"--max-connections-per-ip", "2"}})
		dialWS(t, w.url("/"), fromIP("127.0.0.2"))
		c := dialWS(t, w.url("/"), fromIP("127.0.0.2"))
		if st, _ := dialStatus(t, w.url("/"), fromIP("127.0.0.2")); st != http.StatusServiceUnavailable {
			t.Fatalf("3rd from one IP: %d", st)
		}
		dialWS(t, w.url("/"), fromIP("127.0.0.3")) // another IP is fine
		// A slot comes back when a connection ends.
		if err := c.Close(protocol.StatusNormalClosure, ""); err != nil {
			t.Fatal(err)
		}
		waitSessions(t, w.StateDir, "a closed session", func(ss []sessionRow) bool { return countBy(ss, "client") == 1 })
		dialWS(t, w.url("/"), fromIP("127.0.0.2"))
	})
	t.Run("handshake-rate", func(t *testing.T) {
		t.Parallel()
		w := startWSD(t, wsdOpts{args: []string{"--handshake-rate", "0.5", "--handshake-burst", "2"}})
		dialWS(t, w.url("/"), fromIP("127.0.0.4"))
		dialWS(t, w.url("/"), fromIP("127.0.0.4"))
		st, h := dialStatus(t, w.url("/"), fromIP("127.0.0.4"))
		if st != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
			t.Fatalf("3rd quick handshake: %d %v", st, h)
		}
		dialWS(t, w.url("/"), fromIP("127.0.0.5"))
	})
	t.Run("trusted-proxies", func(t *testing.T) {
		t.Parallel()
		w := startWSD(t, wsdOpts{args: []string{"--trusted-proxies", "127.0.0.6", "--max-connections-per-ip", "1"}})
		xff := func(from, client string) *protocol.DialOptions {
			o := fromIP(from)
			o.Header = http.Header{"X-Forwarded-For": {"203.0.113.50, " + client}}
			return o
		}
		dialWS(t, w.url("/"), xff("127.0.0.6", "198.51.100.1"))
		dialWS(t, w.url("/"), xff("127.0.0.6", "198.51.100.2"))
		if st, _ := dialStatus(t, w.url("/"), xff("127.0.0.6", "198.51.100.1")); st != http.StatusServiceUnavailable {
			t.Fatalf("2nd connection of a forwarded client: %d", st)
		}
		// X-Forwarded-For from an untrusted peer is ignored: no new bucket.
		dialWS(t, w.url("/"), xff("127.0.0.7", "198.51.100.3"))
		if st, _ := dialStatus(t, w.url("/"), xff("127.0.0.7", "198.51.100.4")); st != http.StatusServiceUnavailable {
			t.Fatalf("spoofed X-Forwarded-For: %d", st)
		}
		ss := waitSessions(t, w.StateDir, "three sessions", func(ss []sessionRow) bool { return len(ss) == 3 })
		if ss[0].RemoteAddr != "198.51.100.1" || ss[1].RemoteAddr != "198.51.100.2" || !strings.HasPrefix(ss[2].RemoteAddr, "127.0.0.7:") {
			t.Fatalf("remote addresses: %q %q %q", ss[0].RemoteAddr, ss[1].RemoteAddr, ss[2].RemoteAddr)
		}
	})
}

func TestHandshakeTimeout(t *testing.T) {
	t.Parallel()
	w := startWSD(t, wsdOpts{args: []string{"--handshake-timeout", "300ms"}})
	nc, err := net.Dial("tcp", w.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := io.WriteString(nc, "GET / HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := nc.Read(make([]byte, 100))
	if n != 0 || err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("slow handshake: read %d, %v after %v", n, err, time.Since(start))
	}
	// A well-behaved client still gets in.
	dialWS(t, w.url("/"), nil)
}

func TestDrainOnSIGTERM(t *testing.T) {
	t.Parallel()
	w := startWSD(t, wsdOpts{args: []string{"--drain-timeout", "5s"}})
	var ours []*protocol.Conn
	for range 3 {
		ours = append(ours, dialWS(t, w.url("/"), nil))
	}
	var theirs []*websocket.Conn
	for range 2 {
		c, _, err := websocket.DefaultDialer.Dial(w.url("/"), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		theirs = append(theirs, c)
	}
	waitSessions(t, w.StateDir, "five sessions", func(ss []sessionRow) bool { return len(ss) == 5 })
	w.signal(syscall.SIGTERM)
	for i, c := range ours {
		if code, reason := readClose(t, c); code != protocol.StatusGoingAway {
			t.Errorf("client %d: close %d %q", i, code, reason)
		}
	}
	for i, c := range theirs {
		_, _, err := c.ReadMessage()
		if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
			t.Errorf("gorilla client %d: %v", i, err)
		}
	}
	if code := w.wait(10 * time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	ss := sessions(t, w.StateDir)
	if len(ss) != 5 || countBy(ss, "shutdown") != 5 {
		t.Fatalf("sessions after drain: %+v", ss)
	}
	for _, s := range ss {
		if s.CloseCode != 1001 {
			t.Errorf("session %s: code %d", s.ID, s.CloseCode)
		}
	}
	// Nothing listens any more.
	if c, err := net.DialTimeout("tcp", w.Addr, time.Second); err == nil {
		c.Close()
		t.Error("listener still open after exit")
	}
}

func TestReloadOnSIGHUP(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "wsd.env")
	writeFile := func(s string) {
		t.Helper()
		if err := os.WriteFile(cfgFile, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeFile("# routes\nWSD_ROUTE=/a=echo\nWSD_MAX_CONNECTIONS=100\n")
	w := startWSD(t, wsdOpts{args: []string{"--config", cfgFile}})
	a := dialWS(t, w.url("/a"), nil)
	if st, _ := dialStatus(t, w.url("/b"), nil); st != http.StatusNotFound {
		t.Fatalf("/b before reload: %d", st)
	}

	writeFile("WSD_ROUTE='/b=echo /c=sink'\nWSD_MAX_CONNECTIONS=3\n")
	n := w.LogCount()
	w.signal(syscall.SIGHUP)
	w.waitLogAfter(n, "reloaded", 10*time.Second)
	if st, _ := dialStatus(t, w.url("/a"), nil); st != http.StatusNotFound {
		t.Fatalf("/a after reload: %d", st)
	}
	dialWS(t, w.url("/b"), nil)
	// The open connection was not dropped and keeps its route.
	if err := a.Write(context.Background(), protocol.TextMessage, []byte("still")); err != nil {
		t.Fatal(err)
	}
	if _, p := readMessage(t, a); string(p) != "still" {
		t.Fatalf("old connection: %q", p)
	}
	// The new limit applies: two are open, one more fits, then 503.
	dialWS(t, w.url("/c"), nil)
	if st, _ := dialStatus(t, w.url("/b"), nil); st != http.StatusServiceUnavailable {
		t.Fatalf("over the reloaded max-connections: %d", st)
	}

	// An invalid file is refused and the running configuration stays.
	writeFile("WSD_ROUTE=/d=bogus\n")
	n = w.LogCount()
	w.signal(syscall.SIGHUP)
	line := w.waitLogAfter(n, "reload refused; keeping the current configuration", 10*time.Second)
	if !strings.Contains(fmt.Sprint(line["err"]), "bogus") {
		t.Fatalf("refusal does not say why: %v", line)
	}
	if st, _ := dialStatus(t, w.url("/d"), nil); st != http.StatusServiceUnavailable && st != http.StatusNotFound {
		t.Fatalf("/d: %d", st)
	}
	if err := a.Write(context.Background(), protocol.TextMessage, []byte("alive")); err != nil {
		t.Fatal(err)
	}
	if _, p := readMessage(t, a); string(p) != "alive" {
		t.Fatalf("after refused reload: %q", p)
	}
}

func TestCrashRecovery(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := startWSD(t, wsdOpts{stateDir: dir})
	dialWS(t, w.url("/"), nil)
	dialWS(t, w.url("/"), nil)
	waitSessions(t, dir, "two sessions", func(ss []sessionRow) bool { return len(ss) == 2 })
	w.signal(syscall.SIGKILL)
	if code := w.wait(10 * time.Second); code != -int(syscall.SIGKILL) {
		t.Fatalf("exit %d", code)
	}
	w2 := startWSD(t, wsdOpts{stateDir: dir})
	ss := sessions(t, dir)
	if len(ss) != 2 || countBy(ss, "crash") != 2 || ss[0].CloseCode != 1006 || ss[1].CloseCode != 1006 {
		t.Fatalf("after restart: %+v", ss)
	}
	dialWS(t, w2.url("/"), nil) // and it serves again
}

func TestPanickingHandler(t *testing.T) {
	t.Parallel()
	w := startWSD(t, wsdOpts{env: []string{"WSD_TEST_HANDLERS=1"}, args: []string{"--route", "/panic=test-panic", "--route", "/=echo"}})
	good := dialWS(t, w.url("/"), nil)
	bad := dialWS(t, w.url("/panic"), nil)
	if err := bad.Write(context.Background(), protocol.TextMessage, []byte("boom")); err != nil {
		t.Fatal(err)
	}
	if code, _ := readClose(t, bad); code != protocol.StatusInternalError {
		t.Fatalf("panicking connection closed with %d", code)
	}
	w.waitLog("handler panic", 5*time.Second)
	if err := good.Write(context.Background(), protocol.TextMessage, []byte("fine")); err != nil {
		t.Fatal(err)
	}
	if _, p := readMessage(t, good); string(p) != "fine" {
		t.Fatalf("other connection: %q", p)
	}
	ss := waitSessions(t, w.StateDir, "the panicked session closed", func(ss []sessionRow) bool { return len(ss) == 2 && ss[1].Closed })
	if ss[1].ClosedBy != "server" || ss[1].CloseCode != 1011 || !strings.Contains(ss[1].Error, "panic") {
		t.Fatalf("panicked session: %+v", ss[1])
	}
	// The test-only handler does not exist without the variable.
	out, err := runWSD(t, nil, "--route", "/p=test-panic")
	if err == nil || !strings.Contains(out, "unknown handler") {
		t.Fatalf("test-panic without WSD_TEST_HANDLERS: %v %s", err, out)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	w := startWSD(t, wsdOpts{})
	if st, body := httpGet(t, "http://"+w.Admin+"/healthz"); st != 200 || strings.TrimSpace(body) != "ok" {
		t.Fatalf("healthz: %d %q", st, body)
	}
	if st, body := httpGet(t, "http://"+w.Admin+"/readyz"); st != 200 {
		t.Fatalf("readyz: %d %q", st, body)
	}
}

// runWSD runs the binary to completion (for argument errors).
func runWSD(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(wsdBin, args...)
	cmd.Env = append(cleanEnv(), env...)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{args: []string{"--bogus"}, want: "-bogus"},
		{args: []string{"--route", "/x=nope"}, want: `unknown handler "nope"`},
		{args: []string{"--route", "x=echo"}, want: "path must start with /"},
		{args: []string{"--route", "/w=webhook:ftp://x"}, want: "webhook needs an absolute http"},
		{args: []string{"--max-connections", "0"}, want: "--max-connections"},
		{args: []string{"--max-message-size", "lots"}, want: "max-message-size"},
		{args: []string{"--log-format", "xml"}, want: "--log-format"},
		{env: []string{"WSD_PING_INTERVAL=soon"}, want: "WSD_PING_INTERVAL"},
		{args: []string{"--route-label", "/nowhere:a=b"}, want: "--route-label"},
	} {
		out, err := runWSD(t, tc.env, tc.args...)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("%v %v: exit %v, want 2", tc.env, tc.args, err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 1 || !strings.Contains(out, tc.want) || !strings.HasPrefix(out, "wsd: ") {
			t.Errorf("%v %v: output %q, want one line naming %q", tc.env, tc.args, out, tc.want)
		}
	}
	out, err := runWSD(t, nil, "version")
	if err != nil || !strings.HasPrefix(out, "wsd ") {
		t.Fatalf("version: %v %q", err, out)
	}
}

func TestOriginsAndSubprotocols(t *testing.T) {
	t.Parallel()
	w := startWSD(t, wsdOpts{args: []string{"--allowed-origins", "*.example.com", "--subprotocols", "v2.chat,v1.chat"}})
	origin := func(o string) *protocol.DialOptions {
		return &protocol.DialOptions{Header: http.Header{"Origin": {o}}}
	}
	if st, _ := dialStatus(t, w.url("/"), origin("https://evil.example.net")); st != http.StatusForbidden {
		t.Fatalf("foreign origin: %d", st)
	}
	if st, _ := dialStatus(t, w.url("/"), origin("https://app.example.com")); st != http.StatusSwitchingProtocols {
		t.Fatalf("allowed origin pattern: %d", st)
	}
	if st, _ := dialStatus(t, w.url("/"), origin("http://"+w.Addr)); st != http.StatusSwitchingProtocols {
		t.Fatalf("same origin: %d", st)
	}
	c := dialWS(t, w.url("/"), &protocol.DialOptions{Subprotocols: []string{"v1.chat", "v2.chat"}})
	if c.Subprotocol() != "v2.chat" {
		t.Fatalf("selected %q, want the server's preference v2.chat", c.Subprotocol())
	}
	waitSessions(t, w.StateDir, "three sessions", func(ss []sessionRow) bool { return len(ss) == 3 })
}

func TestHandshakeRefusals(t *testing.T) {
	t.Parallel()
	w := startWSD(t, wsdOpts{args: []string{"--route", "/only=echo", "--max-header-bytes", "2048"}})
	raw := func(req string) string {
		t.Helper()
		nc, err := net.Dial("tcp", w.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(nc, req); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(nc).ReadString('\n')
		if err != nil {
			t.Fatalf("%.40q: %v", req, err)
		}
		return strings.TrimSuffix(line, "\r\n")
	}
	upgrade := "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	for _, tc := range []struct{ req, want string }{
		{"GET /elsewhere HTTP/1.1\r\nHost: x\r\n" + upgrade + "\r\n", "HTTP/1.1 404 Not Found"},
		{"GET /only HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 426 Upgrade Required"},
		{"POST /only HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n" + upgrade + "\r\n", "HTTP/1.1 405 Method Not Allowed"},
		{"GET /only HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 4096) + "\r\n" + upgrade + "\r\n", "HTTP/1.1 431 Request Header Fields Too Large"},
		{"NONSENSE\r\n\r\n", "HTTP/1.1 400 Bad Request"},
		{"GET /only HTTP/1.1\r\nHost: x\r\n" + upgrade + "\r\n", "HTTP/1.1 101 Switching Protocols"},
	} {
		if got := raw(tc.req); got != tc.want {
			t.Errorf("%.40q: got %q, want %q", tc.req, got, tc.want)
		}
	}
}

func TestCompression(t *testing.T) {
	t.Parallel()
	w := startWSD(t, wsdOpts{args: []string{"--compression", "no-context-takeover",
		"--route", "/room=relay:room", "--label-from-query", "room", "--route", "/=echo"}})
	d := websocket.Dialer{EnableCompression: true}
	g, resp, err := d.Dial(w.url("/"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); !strings.Contains(ext, "permessage-deflate") {
		t.Fatalf("not negotiated: %q", ext)
	}
	g.EnableWriteCompression(true)
	for _, n := range []int{0, 10, 1000, 100 << 10, 1 << 20} {
		p := bytes.Repeat([]byte("compressible "), n/13+1)[:n]
		if err := g.WriteMessage(websocket.TextMessage, p); err != nil {
			t.Fatal(err)
		}
		_, got, err := g.ReadMessage()
		if err != nil || !bytes.Equal(got, p) {
			t.Fatalf("%d bytes: %v (%d back)", n, err, len(got))
		}
	}
	// A deflate bomb: 100 MiB of zeros, about 100 KiB on the wire, over
	// the 1 MiB limit once inflated. The server closes with 1009 as soon
	// as the limit is passed, possibly while the client is still writing.
	if err := g.WriteMessage(websocket.BinaryMessage, make([]byte, 100<<20)); err == nil {
		if _, _, err := g.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
			t.Fatalf("bomb: %v", err)
		}
	}
	// A broadcast to a compressed and an uncompressed client.
	a, _, err := d.Dial(w.url("/room?room=r"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	plain := dialWS(t, w.url("/room?room=r"), nil)
	sender := dialWS(t, w.url("/room?room=r"), nil)
	waitSessions(t, w.StateDir, "four sessions", func(ss []sessionRow) bool { return len(ss) == 4 })
	msg := bytes.Repeat([]byte("broadcast "), 1000)
	if err := sender.Write(context.Background(), protocol.TextMessage, msg); err != nil {
		t.Fatal(err)
	}
	if _, p, err := a.ReadMessage(); err != nil || !bytes.Equal(p, msg) {
		t.Fatalf("compressed receiver: %v", err)
	}
	if _, p := readMessage(t, plain); !bytes.Equal(p, msg) {
		t.Fatal("plain receiver")
	}
	ss := waitSessions(t, w.StateDir, "the bomb session closed", func(ss []sessionRow) bool { return ss[0].Closed })
	if ss[0].ClosedBy != "protocol_error" || ss[0].CloseCode != 1009 {
		t.Fatalf("bomb session: %+v", ss[0])
	}
}
