package daemon

import (
	"io"
	"net"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// benchDaemon serves cfg with real metrics and no session recorder (so a
// benchmark measures the daemon, not a store), and returns the daemon, its
// address and a raw upgrade request for it.
func benchDaemon(b *testing.B, cfg Config) (*Daemon, string, []byte) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	deps := Deps{Metrics: prometheus.NewRegistry()}
	d, _ := startDaemonOn(b, cfg, deps, ln)
	addr := ln.Addr().String()
	req := "GET /bench HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
		"User-Agent: wsd-bench\r\n\r\n"
	return d, addr, []byte(req)
}

// BenchmarkHandshake is one churn connection per iteration, end to end
// over loopback: the opening handshake, a client close frame sent with
// the request, the server's close frame and the TCP close. The client is
// a raw socket that writes prepared bytes, so that -benchmem and
// -memprofile show mostly the server's allocations.
func BenchmarkHandshake(b *testing.B) {
	_, addr, req := benchDaemon(b, testConfig())
	// A masked close frame, status 1000, all-zero mask.
	out := append(req, "\x88\x82\x00\x00\x00\x00\x03\xe8"...)
	const want = "HTTP/1.1 101 Switching Protocols\r\n"
	in := make([]byte, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := nc.Write(out); err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			m, err := nc.Read(in[n:])
			n += m
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		if !strings.HasPrefix(string(in[:n]), want) {
			b.Fatalf("response %q", in[:n])
		}
		if err := nc.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChurn is BenchmarkHandshake as a client that waits for the 101
// before it sends its close frame (as wsctl bench churn does): the
// connection has no input when its handshake ends.
func BenchmarkChurn(b *testing.B) {
	_, addr, req := benchDaemon(b, testConfig())
	closeFrame := []byte("\x88\x82\x00\x00\x00\x00\x03\xe8")
	const want = "HTTP/1.1 101 Switching Protocols\r\n"
	in := make([]byte, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := nc.Write(req); err != nil {
			b.Fatal(err)
		}
		n := 0
		for !strings.Contains(string(in[:n]), "\r\n\r\n") {
			m, err := nc.Read(in[n:])
			if err != nil {
				b.Fatal(err)
			}
			n += m
		}
		if !strings.HasPrefix(string(in[:n]), want) {
			b.Fatalf("response %q", in[:n])
		}
		if _, err := nc.Write(closeFrame); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadAll(nc); err != nil {
			b.Fatal(err)
		}
		if err := nc.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
