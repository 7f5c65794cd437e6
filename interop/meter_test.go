package interop

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// meter is a loopback TCP relay in front of wsd that counts the bytes
// crossing it in each direction: what a client's frames really cost on the
// wire, which shows whether (and how well) messages were compressed.
type meter struct {
	ln       net.Listener
	target   string
	up, down atomic.Int64 // client→wsd, wsd→client
	wg       sync.WaitGroup

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	stopped bool
}

// startMeter listens on 127.0.0.1 and relays every connection to target.
// It stops, closing every relayed connection, when the test ends.
func startMeter(t testing.TB, target string) *meter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &meter{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	m.wg.Add(1)
	go m.accept(t)
	t.Cleanup(func() {
		if err := ln.Close(); err != nil {
			t.Errorf("meter: %v", err)
		}
		m.mu.Lock()
		m.stopped = true
		for c := range m.conns {
			c.Close() // unblocks the copies; their errors are expected
		}
		m.mu.Unlock()
		m.wg.Wait()
	})
	return m
}

func (m *meter) addr() string { return m.ln.Addr().String() }

func (m *meter) accept(t testing.TB) {
	defer m.wg.Done()
	for {
		client, err := m.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("meter accept: %v", err)
			}
			return
		}
		server, err := net.Dial("tcp", m.target)
		if err != nil {
			t.Errorf("meter dial %s: %v", m.target, err)
			client.Close()
			continue
		}
		if !m.track(client, server) {
			return
		}
		m.wg.Add(2)
		done := make(chan struct{}, 2)
		go m.relay(server, client, &m.up, done)
		go m.relay(client, server, &m.down, done)
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			<-done
			<-done
			m.untrack(client, server)
		}()
	}
}

// track registers a connection pair, or closes it and reports false if
// the meter is stopping.
func (m *meter) track(cs ...net.Conn) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		m.conns[c] = struct{}{}
	}
	return true
}

func (m *meter) untrack(cs ...net.Conn) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range cs {
		c.Close()
		delete(m.conns, c)
	}
}

// relay copies src to dst, counting, and passes src's end of stream on as
// a half close so that each side's closing handshake goes through.
func (m *meter) relay(dst, src net.Conn, n *atomic.Int64, done chan<- struct{}) {
	defer m.wg.Done()
	defer func() { done <- struct{}{} }()
	buf := make([]byte, 32<<10)
	for {
		k, err := src.Read(buf)
		if k > 0 {
			n.Add(int64(k))
			if _, werr := dst.Write(buf[:k]); werr != nil {
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if tc, ok := dst.(*net.TCPConn); ok {
					tc.CloseWrite() // the peer may already be gone
				}
			}
			return
		}
	}
}
