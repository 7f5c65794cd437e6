//go:build linux

package poller

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/internal/tcptest"
)

// waker counts its wake-ups and signals each on ch without blocking.
type waker struct {
	n  atomic.Int32
	ch chan struct{}
}

func newWaker() *waker { return &waker{ch: make(chan struct{}, 64)} }

func (w *waker) Wake() {
	w.n.Add(1)
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

// wait waits for the next wake-up.
func (w *waker) wait(t *testing.T, what string) {
	t.Helper()
	select {
	case <-w.ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no wake-up", what)
	}
}

// side is one loopback connection as the poller's user sees it: the socket
// it arms (nc, rc) and its peer.
type side struct {
	nc   net.Conn
	rc   syscall.RawConn
	peer net.Conn
	reg  Registration
	w    *waker
}

// pair returns a loopback TCP connection, closed when the test ends.
func pair(t *testing.T, ln net.Listener) *side {
	t.Helper()
	peer, nc := tcptest.Pair(t, ln)
	rc, err := nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return &side{nc: nc, rc: rc, peer: peer, w: newWaker()}
}

// start returns a running Poller, shut down (and Run waited for) when the
// test ends.
func start(t *testing.T) *Poller {
	t.Helper()
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run() }()
	t.Cleanup(func() {
		if err := p.Shutdown(); err != nil {
			t.Error(err)
		}
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return p
}

func (s *side) arm(t *testing.T, p *Poller) {
	t.Helper()
	if err := p.Arm(&s.reg, s.rc, s.w); err != nil {
		t.Fatal(err)
	}
}

func (s *side) send(t *testing.T, msg string) {
	t.Helper()
	if _, err := s.peer.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
}

// marker arms a fresh connection and makes it readable, then waits for its
// wake-up: events for sockets that became ready earlier have been
// delivered by then (epoll reports ready sockets in the order they became
// ready), so a wake-up that has not happened will not.
func marker(t *testing.T, p *Poller, ln net.Listener) {
	t.Helper()
	m := pair(t, ln)
	m.arm(t, p)
	m.send(t, "m")
	m.w.wait(t, "marker")
	p.Release(&m.reg)
}

func TestArmWakesOnceWhenReadable(t *testing.T) {
	p, ln := start(t), tcptest.Listen(t)
	a, b := pair(t, ln), pair(t, ln)
	a.arm(t, p)
	b.arm(t, p)
	b.send(t, "hello")
	b.w.wait(t, "readable")
	if a.w.n.Load() != 0 {
		t.Fatal("a socket with nothing to read woke up")
	}
	// One shot: more input does not wake it again until it is re-armed.
	b.send(t, " again")
	marker(t, p, ln)
	if n := b.w.n.Load(); n != 1 {
		t.Fatalf("%d wake-ups for one arm", n)
	}
	// Re-armed with input still unread, it wakes at once.
	b.arm(t, p)
	b.w.wait(t, "re-armed with input pending")
	// Once read, re-armed, it waits for new input.
	buf := make([]byte, 64)
	if n, err := b.nc.Read(buf); err != nil || string(buf[:n]) != "hello again" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	b.arm(t, p)
	marker(t, p, ln)
	if n := b.w.n.Load(); n != 2 {
		t.Fatalf("%d wake-ups, want 2", n)
	}
	b.send(t, "!")
	b.w.wait(t, "new input")
	if a.w.n.Load() != 0 {
		t.Fatal("a woke up")
	}
	a.send(t, "a")
	a.w.wait(t, "a readable")
}

func TestHangUpWakes(t *testing.T) {
	p, ln := start(t), tcptest.Listen(t)
	fin, rst := pair(t, ln), pair(t, ln)
	fin.arm(t, p)
	rst.arm(t, p)
	if err := fin.peer.Close(); err != nil {
		t.Fatal(err)
	}
	fin.w.wait(t, "peer closed")
	if err := rst.peer.(*net.TCPConn).SetLinger(0); err != nil {
		t.Fatal(err)
	}
	if err := rst.peer.Close(); err != nil {
		t.Fatal(err)
	}
	rst.w.wait(t, "peer reset")
}

// A released registration is never woken, even by an event already on its
// way; its slot is reused, and the stale event does not reach the slot's
// new registration.
func TestReleaseDropsStaleEvents(t *testing.T) {
	p, ln := start(t), tcptest.Listen(t)
	a := pair(t, ln)
	a.arm(t, p)
	slot := a.reg.slot
	p.Release(&a.reg)
	if a.reg != (Registration{}) {
		t.Fatalf("released registration %+v", a.reg)
	}
	a.send(t, "late") // its socket is still in the epoll set
	marker(t, p, ln)
	if a.w.n.Load() != 0 {
		t.Fatal("a released registration woke up")
	}
	b := pair(t, ln)
	b.arm(t, p)
	if b.reg.slot != slot {
		t.Fatalf("slot %d not reused (got %d)", slot, b.reg.slot)
	}
	marker(t, p, ln)
	if b.w.n.Load() != 0 {
		t.Fatal("the slot's new registration got an event of the old one")
	}
	b.send(t, "b")
	b.w.wait(t, "b readable")
	if total, held := p.Slots(); total != 2 || held != 1 {
		t.Fatalf("%d slots, %d held; want 2, 1", total, held)
	}
	p.Release(&b.reg)
	p.Release(&b.reg) // twice: nothing happens
	if total, held := p.Slots(); total != 2 || held != 0 {
		t.Fatalf("%d slots, %d held; want 2, 0", total, held)
	}
}

func TestLookupGenerations(t *testing.T) {
	p := &Poller{}
	var a, b Registration
	wa, wb := newWaker(), newWaker()
	i := p.assign(&a, wa)
	gen := p.slots[i].gen
	if p.lookup(i, gen) != wa {
		t.Fatal("a's event does not resolve")
	}
	p.Release(&a)
	if p.lookup(i, gen) != nil {
		t.Fatal("released slot still resolves")
	}
	if j := p.assign(&b, wb); j != i {
		t.Fatalf("slot %d not reused (got %d)", i, j)
	}
	if p.lookup(i, gen) != nil {
		t.Fatal("an event of a's registration resolves to the slot's new one")
	}
	if p.lookup(i, p.slots[i].gen) != wb {
		t.Fatal("b's own event does not resolve")
	}
	if p.lookup(-1, 0) != nil || p.lookup(7, 0) != nil {
		t.Fatal("out-of-range slot resolves")
	}
}

func TestManyConnections(t *testing.T) {
	p, ln := start(t), tcptest.Listen(t)
	const n = 300
	ss := make([]*side, n)
	for i := range ss {
		ss[i] = pair(t, ln)
		ss[i].arm(t, p)
	}
	for _, s := range ss {
		s.send(t, "x")
	}
	for i, s := range ss {
		s.w.wait(t, "readable")
		if got := s.w.n.Load(); got != 1 {
			t.Fatalf("conn %d: %d wake-ups", i, got)
		}
	}
	// Re-armed (input still unread) they all wake again; hung up, too.
	for _, s := range ss {
		s.arm(t, p)
	}
	for _, s := range ss {
		s.w.wait(t, "re-armed")
	}
	for _, s := range ss {
		var buf [1]byte
		if _, err := s.nc.Read(buf[:]); err != nil {
			t.Fatal(err)
		}
		s.arm(t, p)
		if err := s.peer.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range ss {
		s.w.wait(t, "hung up")
	}
	if total, held := p.Slots(); total != n || held != n {
		t.Fatalf("%d slots, %d held; want %d, %d", total, held, n, n)
	}
	for _, s := range ss {
		p.Release(&s.reg)
	}
	if total, held := p.Slots(); total != n || held != 0 {
		t.Fatalf("%d slots, %d held; want %d, 0", total, held, n)
	}
}

// releaseWaker fails the test when woken after its registration was
// released.
type releaseWaker struct {
	t        *testing.T
	released atomic.Bool
	woken    atomic.Int32
}

func (w *releaseWaker) Wake() {
	if w.released.Load() {
		w.t.Error("woken after Release")
	}
	w.woken.Add(1)
}

// Arms, wake-ups, peer writes and closes, local closes and releases race;
// no registration is woken after its Release, slots are all given back.
func TestArmReleaseCloseRace(t *testing.T) {
	p, ln := start(t), tcptest.Listen(t)
	const goroutines, rounds = 4, 50
	var woken atomic.Int32
	var wg sync.WaitGroup
	for g := range goroutines {
		ss := make([]*side, rounds)
		for i := range ss {
			ss[i] = pair(t, ln)
		}
		wg.Go(func() {
			for i, s := range ss {
				w := &releaseWaker{t: t}
				if err := p.Arm(&s.reg, s.rc, w); err != nil {
					t.Error(err)
					return
				}
				peerDone := make(chan struct{})
				go func() {
					defer close(peerDone)
					switch (g + i) % 3 {
					case 0:
						s.peer.Write([]byte("x")) //nolint:errcheck // racing a close
					case 1:
						s.peer.Close()
					}
				}()
				if i%2 == 0 {
					s.nc.Close() // a closed socket leaves the epoll set
				}
				p.Release(&s.reg)
				w.released.Store(true)
				<-peerDone
				s.nc.Close()
				woken.Add(w.woken.Load())
			}
		})
	}
	wg.Wait()
	if total, held := p.Slots(); held != 0 || total > goroutines {
		t.Fatalf("%d slots, %d held; want at most %d, none held", total, held, goroutines)
	}
	t.Logf("%d of %d registrations woken before their release", woken.Load(), goroutines*rounds)
}

func TestArmClosedSocket(t *testing.T) {
	p, ln := start(t), tcptest.Listen(t)
	s := pair(t, ln)
	s.nc.Close()
	if err := p.Arm(&s.reg, s.rc, s.w); err == nil {
		t.Fatal("armed a closed socket")
	}
	p.Release(&s.reg)
	if _, held := p.Slots(); held != 0 {
		t.Fatal("slot held after release")
	}
}

// Shutdown makes Run return nil, whether Run is waiting or not started
// yet; Arm fails afterwards.
func TestShutdown(t *testing.T) {
	ln := tcptest.Listen(t)
	for _, runFirst := range []bool{true, false} {
		p, err := New()
		if err != nil {
			t.Fatal(err)
		}
		s := pair(t, ln)
		s.arm(t, p)
		done := make(chan error, 1)
		if runFirst {
			go func() { done <- p.Run() }()
		}
		if err := p.Shutdown(); err != nil {
			t.Fatal(err)
		}
		if !runFirst {
			go func() { done <- p.Run() }()
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run after Shutdown: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after Shutdown")
		}
		if err := p.Arm(&s.reg, s.rc, s.w); !errors.Is(err, ErrStopped) {
			t.Fatalf("Arm after Shutdown: %v", err)
		}
		if err := p.Shutdown(); err != nil {
			t.Fatalf("second Shutdown: %v", err)
		}
		p.Release(&s.reg)
	}
}

// Shutdown while Run is waking registrations: neither waits for the other
// (Close waits for Run's wait to return, and Run takes the lock to wake).
func TestShutdownWhileWaking(t *testing.T) {
	ln := tcptest.Listen(t)
	ss := make([]*side, 20)
	for i := range ss {
		ss[i] = pair(t, ln)
		ss[i].send(t, "x") // readable: armed, each wakes at once
	}
	for range 50 {
		p, err := New()
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- p.Run() }()
		for _, s := range ss {
			s.reg = Registration{}
			if err := p.Arm(&s.reg, s.rc, s.w); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.Shutdown(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run and Shutdown wait for each other")
		}
	}
}
