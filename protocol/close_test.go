package protocol

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestStatusCodeValidity(t *testing.T) {
	valid := map[StatusCode]bool{}
	for c := StatusCode(1000); c <= 1003; c++ {
		valid[c] = true
	}
	for c := StatusCode(1007); c <= 1014; c++ {
		valid[c] = true
	}
	for c := StatusCode(3000); c <= 4999; c++ {
		valid[c] = true
	}
	for c := 0; c <= 65535; c++ {
		if got := StatusCode(c).ValidReceived(); got != valid[StatusCode(c)] {
			t.Fatalf("code %d: valid=%v", c, got)
		}
	}
}

func TestParseClosePayload(t *testing.T) {
	code := func(c uint16, reason string) []byte { return append(binary.BigEndian.AppendUint16(nil, c), reason...) }
	cases := []struct {
		name    string
		payload []byte
		code    StatusCode
		reason  string
		fail    StatusCode
	}{
		{"empty", nil, StatusNoStatusReceived, "", 0},
		{"one byte", []byte{0x03}, 0, "", StatusProtocolError},
		{"normal", code(1000, ""), 1000, "", 0},
		{"with reason", code(4001, "kicked"), 4001, "kicked", 0},
		{"max reason", code(1000, strings.Repeat("é", 61)+"x"), 1000, strings.Repeat("é", 61) + "x", 0},
		{"1005 on the wire", code(1005, ""), 0, "", StatusProtocolError},
		{"1006 on the wire", code(1006, ""), 0, "", StatusProtocolError},
		{"1015 on the wire", code(1015, ""), 0, "", StatusProtocolError},
		{"999", code(999, ""), 0, "", StatusProtocolError},
		{"5000", code(5000, ""), 0, "", StatusProtocolError},
		{"invalid UTF-8 reason", code(1000, "\xed\xa0\x80"), 0, "", StatusInvalidPayloadData},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, r, fail := parseClosePayload(tc.payload)
			if fail != tc.fail {
				t.Fatalf("fail %v, want %v", fail, tc.fail)
			}
			if fail == 0 && (c != tc.code || r != tc.reason) {
				t.Fatalf("got %v %q, want %v %q", c, r, tc.code, tc.reason)
			}
		})
	}
}

func TestCheckCloseArgs(t *testing.T) {
	for _, tc := range []struct {
		code   StatusCode
		reason string
		ok     bool
	}{
		{1000, "", true},
		{4999, strings.Repeat("a", 123), true},
		{1000, strings.Repeat("a", 124), false},
		{1005, "", false},
		{1006, "", false},
		{1015, "", false},
		{2000, "", false},
		{1000, "\xff", false},
	} {
		err := checkCloseArgs(tc.code, tc.reason)
		if (err == nil) != tc.ok {
			t.Errorf("code %d reason %d bytes: err %v", tc.code, len(tc.reason), err)
		}
		if err != nil && !errors.Is(err, ErrInvalidClose) {
			t.Errorf("error %v does not wrap ErrInvalidClose", err)
		}
	}
}

// FuzzClosePayload checks parseClosePayload against the rules of §5.5.1
// and §7.4 stated independently.
func FuzzClosePayload(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{3})
	f.Add([]byte{3, 0xe8})
	f.Add([]byte("\x03\xe8bye"))
	f.Add([]byte("\x03\xed\xed\xa0\x80"))
	f.Add([]byte("\x0f\xa0ok"))
	f.Fuzz(func(t *testing.T, p []byte) {
		code, reason, fail := parseClosePayload(p)
		switch {
		case len(p) == 0:
			if fail != 0 || code != StatusNoStatusReceived {
				t.Fatalf("empty payload: %v %v", code, fail)
			}
		case len(p) == 1:
			if fail != StatusProtocolError {
				t.Fatalf("1-byte payload: fail %v", fail)
			}
		default:
			c := binary.BigEndian.Uint16(p)
			okCode := c >= 1000 && c <= 1003 || c >= 1007 && c <= 1014 || c >= 3000 && c <= 4999
			switch {
			case !okCode && fail != StatusProtocolError:
				t.Fatalf("code %d: fail %v", c, fail)
			case okCode && !utf8.Valid(p[2:]) && fail != StatusInvalidPayloadData:
				t.Fatalf("invalid reason: fail %v", fail)
			case okCode && utf8.Valid(p[2:]) && (fail != 0 || uint16(code) != c || reason != string(p[2:])):
				t.Fatalf("valid payload: %v %q %v", code, reason, fail)
			}
		}
	})
}

// silentServer accepts and then never reads: a peer that ignores the
// closing handshake.
func silentServer(t *testing.T) string {
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	return startServer(t, httpHandlerFunc(func(c *Conn) { <-hold }))
}

func TestCloseTimesOutOnSilentPeer(t *testing.T) {
	url := silentServer(t)
	c, _, err := Dial(testCtx(t), url, &DialOptions{Options: Options{CloseTimeout: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Close(StatusNormalClosure, "")
	if !errors.Is(err, ErrCloseTimeout) {
		t.Fatalf("close of a silent peer: %v, want ErrCloseTimeout", err)
	}
	select {
	case <-c.Done():
	default:
		t.Fatal("connection not closed after the close timeout")
	}
}

func TestCloseWhileReading(t *testing.T) {
	url := startServer(t, echoHandler(nil))
	c, _, err := Dial(testCtx(t), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	readErr := make(chan error, 1)
	go func() {
		_, _, err := c.Read(context.Background())
		readErr <- err
	}()
	if err := c.Close(StatusGoingAway, "moving on"); err != nil {
		t.Fatalf("close: %v", err)
	}
	// The reader sees the server's answer: the echo handler answers the
	// same code.
	if err := <-readErr; closeCode(err) != StatusGoingAway {
		t.Fatalf("reader got %v", err)
	}
	if err := c.Write(context.Background(), TextMessage, []byte("late")); err == nil {
		t.Fatal("write after close succeeded")
	}
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

func TestServerCloseReachesClient(t *testing.T) {
	url := startServer(t, httpHandlerFunc(func(c *Conn) {
		if err := c.Close(4001, "kicked"); err != nil {
			t.Errorf("server close: %v", err)
		}
	}))
	c, _, err := Dial(testCtx(t), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Read(testCtx(t))
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != 4001 || ce.Reason != "kicked" || ce.Local {
		t.Fatalf("client got %v", err)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("client connection still open after the server closed")
	}
}

func TestReadContextCancelClosesConn(t *testing.T) {
	url := silentServer(t)
	c, _, err := Dial(testCtx(t), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, _, err := c.Read(ctx)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("read returned %v, want context.Canceled", err)
	}
	if _, _, err := c.Read(context.Background()); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after cancel: %v, want net.ErrClosed", err)
	}
}

func TestReadDeadline(t *testing.T) {
	url := silentServer(t)
	c, _, err := Dial(testCtx(t), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Read(context.Background()); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v", err)
	}
	select {
	case <-c.Done():
	default:
		t.Fatal("a read that passed its deadline left the connection open")
	}
}

func TestCloseArgsRejected(t *testing.T) {
	url := startServer(t, echoHandler(nil))
	c, _, err := Dial(testCtx(t), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Close(StatusAbnormalClosure, ""); !errors.Is(err, ErrInvalidClose) {
		t.Fatalf("close with 1006: %v", err)
	}
	if err := c.Close(StatusNormalClosure, string(bytes.Repeat([]byte("x"), 124))); !errors.Is(err, ErrInvalidClose) {
		t.Fatalf("close with a long reason: %v", err)
	}
}

func TestWriteAfterPeerCloseWrapsErrClosed(t *testing.T) {
	url := startServer(t, httpHandlerFunc(func(c *Conn) {
		if err := c.Close(4001, "bye"); err != nil {
			t.Errorf("server close: %v", err)
		}
	}))
	ctx := testCtx(t)
	c, _, err := Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Read(ctx); closeCode(err) != 4001 {
		t.Fatalf("read: %v", err)
	}
	err = c.Write(ctx, TextMessage, []byte("x"))
	if !errors.Is(err, net.ErrClosed) || closeCode(err) != 4001 {
		t.Fatalf("write after the peer closed: %v", err)
	}
	if _, _, err := c.Read(ctx); closeCode(err) != 4001 {
		t.Fatalf("second read: %v", err)
	}
}
