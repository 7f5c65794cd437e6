package daemon

import (
	"bufio"
	"bytes"
	"net"
	"net/textproto"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/session"
)

// BenchmarkBroadcast is the server side of a broadcast: one 64-byte text
// message to each of 2,000 loopback connections whose clients do not
// read (their receive buffers take what a benchmark run sends). There is
// no client process to share the CPU with, so the cost per delivery (the
// write system call, loopback delivery included, and the daemon's own
// work) is measured with less noise than by wsctl bench.
func BenchmarkBroadcast(b *testing.B) {
	const conns = 2000
	cfg := testConfig()
	cfg.MaxConnections = conns + 10
	cfg.MaxConnectionsPerIP = 0
	d, addr, req := benchDaemon(b, cfg)
	for range conns {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { nc.Close() })
		if _, err := nc.Write(req); err != nil {
			b.Fatal(err)
		}
		line, err := textproto.NewReader(bufio.NewReader(nc)).ReadLine()
		if err != nil || line != "HTTP/1.1 101 Switching Protocols" {
			b.Fatalf("handshake: %q %v", line, err)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); d.hub.count.Load() < conns; {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d connections registered", d.hub.count.Load(), conns)
		}
		time.Sleep(time.Millisecond)
	}
	msg := bytes.Repeat([]byte("x"), 64)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if res := d.Broadcast(session.Selector{}, session.Text, msg); res.Queued != conns {
			b.Fatalf("broadcast: %+v", res)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*conns), "ns/delivery")
}
