//go:build linux

package poller

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
)

// Poller is an epoll instance and the registrations armed in it.
//
// The Go runtime's own epoll instance keeps watching the sockets as well;
// that is harmless (it only marks the descriptor ready for the next read).
//
// Events carry the registration's slot and the slot's generation, not the
// file descriptor: a descriptor number is reused as soon as it is closed,
// and an event may be delivered after its registration was released. A
// socket leaves the epoll set when it is closed, so a registration never
// needs to be removed from it; Release frees its slot (and bumps the slot's
// generation).
type Poller struct {
	// The epoll instance, itself watched by the runtime's netpoller (an
	// epoll descriptor is readable while it has events): Run parks like
	// any goroutine reading a socket, and no thread sits in epoll_wait.
	f    *os.File
	rc   syscall.RawConn
	epfd int

	mu    sync.Mutex
	slots []slot
	free  []int32
	stop  bool // f is closed or closing: Arm fails

	// The epoll_ctl call Arm makes through RawConn.Control, with its
	// arguments and result, kept here (guarded by mu) so that arming
	// allocates nothing.
	ctlFn  func(fd uintptr)
	ctlOp  int
	ctlEv  syscall.EpollEvent
	ctlErr error
}

type slot struct {
	w   Waker // nil while free
	gen int32
}

// Registration is one socket's place in a Poller. The zero value has none;
// the caller keeps one per socket (embedded in its connection, say) and
// passes its address to Arm and Release. Its fields are the Poller's,
// guarded by its lock.
type Registration struct {
	slot  int32 // slot index + 1; 0: none
	added bool  // the socket is in the epoll set
}

// New returns a Poller; run it with Run.
func New() (*Poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		return nil, errors.Join(os.NewSyscallError("fcntl", err), syscall.Close(epfd))
	}
	// A non-blocking descriptor given to os.NewFile joins the runtime's
	// netpoller.
	f := os.NewFile(uintptr(epfd), "epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("poller: %w", errors.Join(err, f.Close()))
	}
	p := &Poller{f: f, rc: rc, epfd: epfd}
	p.ctlFn = p.ctl
	return p, nil
}

// Arm registers the socket rc for one readiness event (EPOLLIN, with
// EPOLLRDHUP, one-shot): w.Wake is called once when it is readable, has
// hung up or failed, maybe at once. From the moment Arm succeeds the
// caller must treat its connection as owned by whoever w.Wake hands it to.
// Arming again after a wake-up re-arms the same registration.
func (p *Poller) Arm(r *Registration, rc syscall.RawConn, w Waker) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stop {
		return ErrStopped
	}
	i := p.assign(r, w)
	p.ctlEv = syscall.EpollEvent{
		Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT,
		Fd:     i,
		Pad:    p.slots[i].gen,
	}
	p.ctlOp = syscall.EPOLL_CTL_MOD
	if !r.added {
		p.ctlOp = syscall.EPOLL_CTL_ADD
	}
	p.ctlErr = nil
	// Control holds a reference on the descriptor: it cannot be closed
	// (and its number reused) while epoll_ctl runs.
	if err := rc.Control(p.ctlFn); err != nil {
		return fmt.Errorf("poller: arm: %w", err)
	}
	if p.ctlErr != nil {
		return os.NewSyscallError("epoll_ctl", p.ctlErr)
	}
	r.added = true
	return nil
}

// ctl is Arm's epoll_ctl; p.mu is held.
func (p *Poller) ctl(fd uintptr) {
	p.ctlErr = syscall.EpollCtl(p.epfd, p.ctlOp, int(fd), &p.ctlEv)
}

// assign returns r's slot, assigning one if it has none. p.mu is held.
func (p *Poller) assign(r *Registration, w Waker) int32 {
	if r.slot == 0 {
		var i int32
		if n := len(p.free); n > 0 {
			i = p.free[n-1]
			p.free = p.free[:n-1]
		} else {
			i = int32(len(p.slots))
			p.slots = append(p.slots, slot{})
		}
		r.slot = i + 1
	}
	i := r.slot - 1
	p.slots[i].w = w
	return i
}

// Release frees r's slot once its socket is done with (closed, or about to
// be): events still on their way for it are recognised by the slot's new
// generation and dropped. After Release returns, r's Waker is not called
// again. Releasing a registration that has no slot does nothing.
func (p *Poller) Release(r *Registration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r.slot == 0 {
		return
	}
	i := r.slot - 1
	p.slots[i].w = nil
	p.slots[i].gen++
	p.free = append(p.free, i)
	*r = Registration{}
}

// Slots returns how many slots the Poller has and how many of them are
// held by registrations.
func (p *Poller) Slots() (total, held int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.slots), len(p.slots) - len(p.free)
}

// Run waits for events and wakes the registrations they are for, until
// Shutdown (then it returns nil) or until waiting fails.
func (p *Poller) Run() error {
	events := make([]syscall.EpollEvent, 256)
	var werr error
	err := p.rc.Read(func(uintptr) bool {
		for {
			n, err := syscall.EpollWait(p.epfd, events, 0)
			if err == syscall.EINTR {
				continue
			}
			if err != nil {
				werr = os.NewSyscallError("epoll_wait", err)
				return true
			}
			if n > 0 {
				p.wake(events[:n])
			}
			if n < len(events) {
				return false // none left: wait until the epoll is readable
			}
		}
	})
	p.mu.Lock()
	stopped := p.stop // shut down: the wait fails with "use of closed file"
	p.mu.Unlock()
	if err = errors.Join(werr, err); err != nil && !stopped {
		return fmt.Errorf("poller: %w", err)
	}
	return nil
}

// wake calls the Wakers of the events' registrations, skipping events of
// released slots (and of slots reused since).
func (p *Poller) wake(events []syscall.EpollEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ev := range events {
		if w := p.lookup(ev.Fd, ev.Pad); w != nil {
			w.Wake()
		}
	}
}

// lookup returns the Waker of slot if its generation is gen. p.mu is held.
func (p *Poller) lookup(slot, gen int32) Waker {
	if slot < 0 || int(slot) >= len(p.slots) || p.slots[slot].gen != gen {
		return nil
	}
	return p.slots[slot].w
}

// Shutdown makes Run return and releases the epoll instance; Arm fails
// with ErrStopped from now on. Calling it again does nothing.
func (p *Poller) Shutdown() error {
	p.mu.Lock()
	stopped := p.stop
	p.stop = true
	p.mu.Unlock()
	if stopped {
		return nil
	}
	// Not under mu: Close waits for Run's wait to return, and Run may be
	// waking registrations, under mu, right now. No Arm uses the epoll
	// instance any more: one that took mu before stop was set is done.
	if err := p.f.Close(); err != nil {
		return fmt.Errorf("poller: %w", err)
	}
	return nil
}
