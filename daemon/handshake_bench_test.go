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
func BenchmarkHandshake(b *testing.B) { benchConnections(b, false) }

// BenchmarkChurn is BenchmarkHandshake as a client that waits for the 101
// before it sends its close frame (as wsctl bench churn does): the
// connection has no input when its handshake ends.
func BenchmarkChurn(b *testing.B) { benchConnections(b, true) }

// benchConnections runs one connection per iteration from a raw client:
// the upgrade request, a masked close frame (status 1000, all-zero mask)
// with the request or, when waitFor101 is set, once the 101 has come; then
// everything the server sends until it closes the connection.
func benchConnections(b *testing.B, waitFor101 bool) {
	_, addr, req := benchDaemon(b, testConfig())
	closeFrame := []byte("\x88\x82\x00\x00\x00\x00\x03\xe8")
	first := req
	if !waitFor101 {
		first = append(req, closeFrame...)
	}
	const want = "HTTP/1.1 101 Switching Protocols\r\n"
	in := make([]byte, 4096) // kept: the client allocates nothing per connection
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := nc.Write(first); err != nil {
			b.Fatal(err)
		}
		n := 0
		if waitFor101 {
			n = readUntil(b, nc, in, 0, func(got []byte) bool { return strings.Contains(string(got), "\r\n\r\n") })
			if _, err := nc.Write(closeFrame); err != nil {
				b.Fatal(err)
			}
		}
		n = readUntil(b, nc, in, n, nil)
		if !strings.HasPrefix(string(in[:n]), want) {
			b.Fatalf("response %q", in[:n])
		}
		if err := nc.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// readUntil reads from nc into in[n:] until done(in[:n]) reports true or,
// with done nil, until EOF, and returns the new n. The server's answers
// are far smaller than in.
func readUntil(b *testing.B, nc net.Conn, in []byte, n int, done func([]byte) bool) int {
	for done == nil || !done(in[:n]) {
		if n == len(in) {
			b.Fatalf("more than %d bytes from the server", len(in))
		}
		m, err := nc.Read(in[n:])
		n += m
		if err == io.EOF && done == nil {
			return n
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	return n
}
