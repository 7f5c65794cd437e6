package wsdtest

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// Raw is a WebSocket client written by hand: it answers nothing on its own
// (no pongs) and sends whatever frames a test builds, so that tests can
// play a dead, busy or misbehaving peer. Its connection is closed when the
// test ends.
type Raw struct {
	Conn net.Conn
	R    *bufio.Reader
}

// DialRaw opens a WebSocket connection to path on addr (host:port) with a
// hand-written handshake, bounded by 10 s, and fails the test unless the
// server answers 101. The connection has no deadline afterwards.
func DialRaw(t testing.TB, addr, path string) *Raw {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	if err := nc.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintf(nc, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", path, addr); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("raw handshake: %s", resp.Status)
	}
	if err := nc.SetDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	return &Raw{Conn: nc, R: br}
}

// AppendFrame appends a frame with opcode op and payload p to dst, FIN as
// fin says, masked (with the all-zero key: the payload goes as is) when
// mask is true, as a client must.
func AppendFrame(dst []byte, fin bool, op byte, mask bool, p []byte) []byte {
	b0, m := op, byte(0)
	if fin {
		b0 |= 0x80
	}
	if mask {
		m = 0x80
	}
	switch n := len(p); {
	case n < 126:
		dst = append(dst, b0, m|byte(n))
	case n < 1<<16:
		dst = append(dst, b0, m|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, b0, m|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	if mask {
		dst = append(dst, 0, 0, 0, 0)
	}
	return append(dst, p...)
}

// WriteFrame sends one frame with FIN set (AppendFrame).
func (r *Raw) WriteFrame(t testing.TB, op byte, mask bool, p []byte) {
	t.Helper()
	if _, err := r.Conn.Write(AppendFrame(nil, true, op, mask, p)); err != nil {
		t.Fatalf("write frame: %v", err)
	}
}

// maxRawFrame bounds the server frames ReadFrame accepts.
const maxRawFrame = 1 << 20

// ReadFrame reads one (unmasked, server) frame.
func (r *Raw) ReadFrame() (op byte, p []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(r.R, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var x [2]byte
		if _, err := io.ReadFull(r.R, x[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(x[:]))
	case 127:
		var x [8]byte
		if _, err := io.ReadFull(r.R, x[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(x[:])
	}
	if n > maxRawFrame {
		return 0, nil, fmt.Errorf("server frame of %d bytes", n)
	}
	p = make([]byte, n)
	if _, err := io.ReadFull(r.R, p); err != nil {
		return 0, nil, err
	}
	return h[0] & 0x0f, p, nil
}

// ReadClose reads frames, dropping any other, until a close frame and
// returns its code (1005 when it has none).
func (r *Raw) ReadClose(t testing.TB) int {
	t.Helper()
	for range 10000 {
		op, p, err := r.ReadFrame()
		if err != nil {
			t.Fatalf("reading until the close frame: %v", err)
		}
		if op == 8 {
			if len(p) < 2 {
				return 1005
			}
			return int(binary.BigEndian.Uint16(p))
		}
	}
	t.Fatal("no close frame in 10,000 frames")
	return 0
}
