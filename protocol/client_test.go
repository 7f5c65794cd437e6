package protocol

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
)

// rawServer is a server written by hand for the client's conformance
// cases, modelled on Autobahn's fuzzing-server mode: after the handshake it
// runs script with a reader and writer of raw frames.
func rawServer(t *testing.T, script func(nc net.Conn, br *bufio.Reader)) string {
	t.Helper()
	return fakeServerBR(t, func(k string) string { return switching(k, "") }, script)
}

func fakeServerBR(t *testing.T, answer func(key string) string, script func(nc net.Conn, br *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		br := bufio.NewReader(nc)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		if _, err := io.WriteString(nc, answer(req.Header.Get("Sec-WebSocket-Key"))); err != nil {
			return
		}
		script(nc, br)
	}()
	return "ws://" + ln.Addr().String()
}

// serverFrame is an unmasked frame.
func serverFrame(fin bool, op Opcode, p []byte) []byte {
	return append(appendHeader(nil, header{fin: fin, opcode: op, length: uint64(len(p))}), p...)
}

// readClientFrame reads one masked frame from the client and unmasks it.
func readClientFrame(br *bufio.Reader) (header, []byte, error) {
	b, err := br.Peek(2)
	if err != nil {
		return header{}, nil, err
	}
	n := headerLen(b[0], b[1])
	hb := make([]byte, n)
	if _, err := io.ReadFull(br, hb); err != nil {
		return header{}, nil, err
	}
	h, _, err := parseHeader(hb)
	if err != nil {
		return h, nil, err
	}
	if !h.masked {
		return h, nil, errors.New("client sent an unmasked frame")
	}
	p := make([]byte, h.length)
	if _, err := io.ReadFull(br, p); err != nil {
		return h, nil, err
	}
	mask(h.key, 0, p)
	return h, p, nil
}

func TestClientConformance(t *testing.T) {
	type result struct {
		frames []header
		close  StatusCode
		eof    bool // the client closed the TCP connection after the close exchange
	}
	cases := []struct {
		name      string
		send      [][]byte
		wantMsg   []byte // a message the client must read first
		wantPongs int
		wantClose StatusCode
	}{
		{name: "fragmented text with a ping inside", send: [][]byte{
			serverFrame(false, OpText, []byte("frag1")), serverFrame(true, OpPing, []byte("p")), serverFrame(true, OpContinuation, []byte("frag2")),
			serverFrame(true, OpClose, closePayload(StatusNormalClosure, "")),
		}, wantMsg: []byte("frag1frag2"), wantPongs: 1, wantClose: StatusNormalClosure},
		{name: "invalid UTF-8", send: [][]byte{serverFrame(true, OpText, []byte("\xed\xa0\x80"))}, wantClose: StatusInvalidPayloadData},
		{name: "reserved opcode", send: [][]byte{serverFrame(true, 3, nil)}, wantClose: StatusProtocolError},
		{name: "RSV bit", send: [][]byte{{0xc1, 0x00}}, wantClose: StatusProtocolError},
		{name: "continuation first", send: [][]byte{serverFrame(true, OpContinuation, []byte("x"))}, wantClose: StatusProtocolError},
		{name: "ping too long", send: [][]byte{serverFrame(true, OpPing, make([]byte, 126))}, wantClose: StatusProtocolError},
		{name: "invalid close code", send: [][]byte{serverFrame(true, OpClose, closePayload(1004, ""))}, wantClose: StatusProtocolError},
		{name: "server close with reason", send: [][]byte{serverFrame(true, OpClose, closePayload(4000, "bye"))}, wantClose: 4000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := make(chan result, 1)
			url := rawServer(t, func(nc net.Conn, br *bufio.Reader) {
				var r result
				defer func() { res <- r }()
				for _, f := range tc.send {
					if _, err := nc.Write(f); err != nil {
						return
					}
				}
				for {
					h, p, err := readClientFrame(br)
					if err != nil {
						r.eof = errors.Is(err, io.EOF)
						return
					}
					r.frames = append(r.frames, h)
					if h.opcode == OpClose {
						r.close, _, _ = parseClosePayload(p)
						// The server closes the TCP connection first (§7.1.1);
						// the client must notice and return.
						nc.Close()
						return
					}
				}
			})
			ctx := testCtx(t)
			c, _, err := Dial(ctx, url, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			typ, msg, err := c.Read(ctx)
			if tc.wantMsg != nil {
				if err != nil || typ != TextMessage || !bytes.Equal(msg, tc.wantMsg) {
					t.Fatalf("read %v %q %v", typ, msg, err)
				}
				_, _, err = c.Read(ctx)
			}
			if closeCode(err) != tc.wantClose {
				t.Fatalf("client read ended with %v, want close %v", err, tc.wantClose)
			}
			r := <-res
			if r.close != tc.wantClose && !(tc.wantClose == StatusNoStatusReceived) {
				t.Fatalf("client sent close %v, want %v", r.close, tc.wantClose)
			}
			pongs := 0
			for _, h := range r.frames {
				if h.opcode == OpPong {
					pongs++
				}
			}
			if pongs != tc.wantPongs {
				t.Fatalf("client sent %d pongs, want %d", pongs, tc.wantPongs)
			}
			select {
			case <-c.Done():
			case <-ctx.Done():
				t.Fatal("client connection still open")
			}
		})
	}
}

// TestOnFrameObservesBothDirections checks the tracing hook's events.
func TestOnFrameObservesBothDirections(t *testing.T) {
	var mu sync.Mutex
	var events []FrameEvent
	opts := &AcceptOptions{Options: Options{OnFrame: func(e FrameEvent) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}}}
	done := make(chan struct{})
	url := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		echoHandler(opts)(w, r)
	}))
	ctx := testCtx(t)
	c, _, err := Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Write(ctx, TextMessage, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Read(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(ctx, []byte("p")); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(4002, "done"); err != nil {
		t.Fatal(err)
	}
	<-done
	mu.Lock()
	defer mu.Unlock()
	want := []FrameEvent{
		{Direction: Inbound, Opcode: OpText, Fin: true, Masked: true, Length: 5},
		{Direction: Outbound, Opcode: OpText, Fin: true, Length: 5},
		{Direction: Inbound, Opcode: OpPing, Fin: true, Masked: true, Length: 1},
		{Direction: Outbound, Opcode: OpPong, Fin: true, Length: 1},
		{Direction: Inbound, Opcode: OpClose, Fin: true, Masked: true, Length: 6, CloseCode: 4002, CloseReason: "done"},
		{Direction: Outbound, Opcode: OpClose, Fin: true, Length: 2, CloseCode: 4002},
	}
	if len(events) != len(want) {
		t.Fatalf("events %+v", events)
	}
	for i := range want {
		if events[i] != want[i] {
			t.Errorf("event %d: %+v, want %+v", i, events[i], want[i])
		}
	}
}

func TestConcurrentWriters(t *testing.T) {
	url := startServer(t, echoHandler(nil))
	ctx := testCtx(t)
	c, _, err := Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	const writers, each = 8, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := bytes.Repeat([]byte{byte('a' + w)}, 1000+w)
			for range each {
				if err := c.Write(ctx, BinaryMessage, msg); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	got := map[byte]int{}
	for range writers * each {
		_, msg, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(msg) != 1000+int(msg[0]-'a') || !bytes.Equal(msg, bytes.Repeat(msg[:1], len(msg))) {
			t.Fatalf("interleaved message of %d bytes", len(msg))
		}
		got[msg[0]]++
	}
	wg.Wait()
	for w := range writers {
		if got[byte('a'+w)] != each {
			t.Fatalf("writer %d: %d messages", w, got[byte('a'+w)])
		}
	}
}

// TestOnFrameEmptyClose checks that an empty close frame, and its empty
// answer, are observed without a code.
func TestOnFrameEmptyClose(t *testing.T) {
	var mu sync.Mutex
	var closes []FrameEvent
	opts := &AcceptOptions{Options: Options{OnFrame: func(e FrameEvent) {
		if e.Opcode == OpClose {
			mu.Lock()
			closes = append(closes, e)
			mu.Unlock()
		}
	}}}
	done := make(chan struct{})
	url := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		echoHandler(opts)(w, r)
	}))
	p := dialPeer(t, url)
	p.send(true, OpClose, nil)
	p.expectClose(0)
	<-done
	mu.Lock()
	defer mu.Unlock()
	if len(closes) != 2 || closes[0].CloseCode != 0 || closes[1].CloseCode != 0 || closes[1].Length != 0 {
		t.Fatalf("close events %+v", closes)
	}
}
