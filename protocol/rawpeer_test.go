package protocol

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// rawPeer is a client that speaks the wire format by hand, so tests can
// send what a correct client never would. It is the tests' stand-in for
// the Autobahn fuzzing client.
type rawPeer struct {
	t   testing.TB
	nc  net.Conn
	br  *bufio.Reader
	key uint32
}

// dialPeer performs a minimal opening handshake against a ws:// URL.
func dialPeer(t testing.TB, wsURL string) *rawPeer {
	t.Helper()
	nc := dialRaw(t, wsURL)
	p := &rawPeer{t: t, nc: nc, br: bufio.NewReader(nc), key: 0x37fa213d}
	path := "/"
	if i := strings.Index(strings.TrimPrefix(wsURL, "ws://"), "/"); i >= 0 {
		path = strings.TrimPrefix(wsURL, "ws://")[i:]
	}
	req := "GET " + path + " HTTP/1.1\r\nHost: " + nc.RemoteAddr().String() + "\r\n" +
		"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	p.write([]byte(req))
	p.deadline()
	resp, err := http.ReadResponse(p.br, nil)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: status %s", resp.Status)
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("handshake: accept %q", got) // the RFC 6455 §1.3 example
	}
	return p
}

func (p *rawPeer) deadline() {
	p.t.Helper()
	if err := p.nc.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		p.t.Fatal(err)
	}
}

func (p *rawPeer) write(b []byte) {
	p.t.Helper()
	p.deadline()
	if _, err := p.nc.Write(b); err != nil {
		p.t.Fatalf("write: %v", err)
	}
}

// frame builds a masked client frame; rsv uses the wire bit positions.
func (p *rawPeer) frame(fin bool, rsv byte, op Opcode, payload []byte) []byte {
	h := header{fin: fin, rsv: rsv, opcode: op, masked: true, length: uint64(len(payload)), key: p.key}
	b := appendHeader(nil, h)
	start := len(b)
	b = append(b, payload...)
	mask(h.key, 0, b[start:])
	return b
}

func (p *rawPeer) send(fin bool, op Opcode, payload []byte) {
	p.t.Helper()
	p.write(p.frame(fin, 0, op, payload))
}

func (p *rawPeer) sendText(s string) { p.t.Helper(); p.send(true, OpText, []byte(s)) }

// closePayload encodes any code, even those appendClosePayload refuses to.
func closePayload(code StatusCode, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}

// readFrame reads one frame from the server, which must not mask it.
func (p *rawPeer) readFrame() (header, []byte, error) {
	p.deadline()
	var hb [maxHeaderSize]byte
	if _, err := io.ReadFull(p.br, hb[:2]); err != nil {
		return header{}, nil, err
	}
	n := headerLen(hb[0], hb[1])
	if _, err := io.ReadFull(p.br, hb[2:n]); err != nil {
		return header{}, nil, err
	}
	h, _, err := parseHeader(hb[:n])
	if err != nil {
		return h, nil, err
	}
	if h.masked {
		return h, nil, errors.New("server sent a masked frame")
	}
	payload := make([]byte, h.length)
	if _, err := io.ReadFull(p.br, payload); err != nil {
		return h, nil, err
	}
	return h, payload, nil
}

// expectFrame reads the next frame and checks its opcode, FIN and payload.
func (p *rawPeer) expectFrame(op Opcode, payload []byte) {
	p.t.Helper()
	h, got, err := p.readFrame()
	if err != nil {
		p.t.Fatalf("expected %v frame: %v", op, err)
	}
	if h.opcode != op || !h.fin || h.rsv != 0 {
		p.t.Fatalf("expected final %v frame, got %v fin=%v rsv=%#x", op, h.opcode, h.fin, h.rsv)
	}
	if !bytes.Equal(got, payload) {
		p.t.Fatalf("%v frame payload differs: got %d bytes %.40q, want %d bytes %.40q", op, len(got), got, len(payload), payload)
	}
}

// expectMessage reads a whole (possibly fragmented) message.
func (p *rawPeer) expectMessage(op Opcode, payload []byte) {
	p.t.Helper()
	var msg []byte
	first := true
	for {
		h, got, err := p.readFrame()
		if err != nil {
			p.t.Fatalf("expected %v message: %v", op, err)
		}
		if first && h.opcode != op || !first && h.opcode != OpContinuation {
			p.t.Fatalf("expected %v message, got %v frame", op, h.opcode)
		}
		first = false
		msg = append(msg, got...)
		if h.fin {
			break
		}
	}
	if !bytes.Equal(msg, payload) {
		p.t.Fatalf("%v message differs: got %d bytes, want %d", op, len(msg), len(payload))
	}
}

// expectClose reads frames until a close frame, ignoring nothing: any other
// frame first is an error. The code must be one of codes (0 means an empty
// close payload). It answers the close as a client does, then requires the
// server to close the TCP connection.
func (p *rawPeer) expectClose(codes ...StatusCode) (StatusCode, string) {
	p.t.Helper()
	h, payload, err := p.readFrame()
	if err != nil {
		p.t.Fatalf("expected close frame with %v: %v", codes, err)
	}
	if h.opcode != OpClose {
		p.t.Fatalf("expected close frame with %v, got %v frame %.40q", codes, h.opcode, payload)
	}
	var code StatusCode
	var reason string
	if len(payload) >= 2 {
		code = StatusCode(binary.BigEndian.Uint16(payload))
		reason = string(payload[2:])
	}
	if !slices.Contains(codes, code) {
		p.t.Fatalf("close code %d (%q), want one of %v", code, reason, codes)
	}
	// Answer like a well-behaved client; the server may already be gone.
	if _, err := p.nc.Write(p.frame(true, 0, OpClose, payload[:min(len(payload), 2)])); err != nil && !isConnGone(err) {
		p.t.Fatalf("answer close: %v", err)
	}
	p.expectEOF()
	return code, reason
}

// expectEOF requires the server to close the TCP connection.
func (p *rawPeer) expectEOF() {
	p.t.Helper()
	p.deadline()
	var b [1]byte
	n, err := p.br.Read(b[:])
	if err == nil {
		p.t.Fatalf("expected the server to close the connection, read %d more bytes (%#x)", n, b[0])
	}
	if !errors.Is(err, io.EOF) && !isConnGone(err) {
		p.t.Fatalf("expected the server to close the connection: %v", err)
	}
}

func isConnGone(err error) bool {
	return err != nil && (errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) ||
		strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe"))
}

func (p *rawPeer) String() string { return fmt.Sprintf("rawPeer(%v)", p.nc.LocalAddr()) }
