//go:build linux

package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"
)

// poller holds idle connections without a goroutine each. A connection with
// nothing to read arms its socket here (EPOLLIN, one-shot) and its reading
// goroutine exits; when the socket becomes readable or hangs up, the poller
// starts a new one (conn.resume). An idle connection then costs its few
// hundred bytes of state but no goroutine: no stack (2 KiB at the least)
// and no goroutine descriptor.
//
// The Go runtime's own epoll instance keeps watching the socket as well;
// that is harmless (it only marks the descriptor ready for the next read).
//
// Events carry the connection's slot and the slot's generation, not the
// file descriptor: a descriptor number is reused as soon as it is closed,
// and an event may be delivered after its connection ended. A registration
// disappears from the epoll set when its socket is closed, so a connection
// never needs to deregister; its slot is released (and its generation
// bumped) when it finishes.
type poller struct {
	// The epoll instance, itself watched by the runtime's netpoller (an
	// epoll descriptor is readable while it has events): run parks like
	// any goroutine reading a socket, and no thread sits in epoll_wait.
	f    *os.File
	rc   syscall.RawConn
	epfd int
	log  *slog.Logger

	mu    sync.Mutex
	slots []pollSlot
	free  []int32
	stop  bool // f is closed or closing: arm fails

	// The epoll_ctl call arm makes through RawConn.Control, with its
	// arguments and result, kept here (guarded by mu) so that arming
	// allocates nothing.
	ctlFn  func(fd uintptr)
	ctlOp  int
	ctlEv  syscall.EpollEvent
	ctlErr error
}

type pollSlot struct {
	c   *conn
	gen int32
}

func newPoller(log *slog.Logger) (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	// A non-blocking descriptor given to os.NewFile joins the runtime's
	// netpoller.
	f := os.NewFile(uintptr(epfd), "epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("epoll: %w", err)
	}
	p := &poller{f: f, rc: rc, epfd: epfd, log: log}
	p.ctlFn = p.ctl
	return p, nil
}

// arm registers c's socket for one readiness event. The caller has set c
// parked; from the moment arm succeeds the connection may be resumed on
// another goroutine, so the caller must not touch it afterwards.
func (p *poller) arm(c *conn) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stop {
		return errors.New("poller stopped")
	}
	i := p.slot(c)
	p.ctlEv = syscall.EpollEvent{
		Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT,
		Fd:     i,
		Pad:    p.slots[i].gen,
	}
	p.ctlOp = syscall.EPOLL_CTL_MOD
	if !c.pAdded {
		p.ctlOp = syscall.EPOLL_CTL_ADD
	}
	p.ctlErr = nil
	// Control holds a reference on the descriptor: it cannot be closed
	// (and its number reused) while epoll_ctl runs.
	if err := c.lr.rc.Control(p.ctlFn); err != nil {
		return err
	}
	if p.ctlErr != nil {
		return os.NewSyscallError("epoll_ctl", p.ctlErr)
	}
	c.pAdded = true
	return nil
}

// ctl is arm's epoll_ctl; p.mu is held.
func (p *poller) ctl(fd uintptr) {
	p.ctlErr = syscall.EpollCtl(p.epfd, p.ctlOp, int(fd), &p.ctlEv)
}

// slot returns c's slot, assigning one if it has none. p.mu is held.
func (p *poller) slot(c *conn) int32 {
	if c.pslot == 0 {
		var i int32
		if n := len(p.free); n > 0 {
			i = p.free[n-1]
			p.free = p.free[:n-1]
		} else {
			i = int32(len(p.slots))
			p.slots = append(p.slots, pollSlot{})
		}
		p.slots[i].c = c
		c.pslot = i + 1
	}
	return c.pslot - 1
}

// release frees c's slot when the connection has ended. Events still on
// their way for it are recognised by the slot's new generation.
func (p *poller) release(c *conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.pslot == 0 {
		return
	}
	i := c.pslot - 1
	p.slots[i].c = nil
	p.slots[i].gen++
	p.free = append(p.free, i)
	c.pslot = 0
}

// run waits for events until shutdown and resumes the connections they
// are for.
func (p *poller) run() {
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
			for _, ev := range events[:n] {
				if c := p.lookup(ev.Fd, ev.Pad); c != nil {
					c.resume()
				}
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
		// Parked connections would then wait for a close to resume them.
		p.log.Error("poller stopped", "err", err)
	}
}

// lookup returns the connection an event is for: nil when the slot has
// been released (and maybe reused) since the event's registration.
func (p *poller) lookup(slot, gen int32) *conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if slot < 0 || int(slot) >= len(p.slots) || p.slots[slot].gen != gen {
		return nil
	}
	return p.slots[slot].c
}

// shutdown makes run return and releases the epoll instance; arm fails
// from now on.
func (p *poller) shutdown() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stop = true
	if err := p.f.Close(); err != nil {
		return fmt.Errorf("poller: %w", err)
	}
	return nil
}
