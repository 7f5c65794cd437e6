//go:build !linux

package poller

import "syscall"

// Poller is Linux-only (epoll); elsewhere New fails and callers keep a
// goroutine per connection.
type Poller struct{}

// Registration is one socket's place in a Poller.
type Registration struct{}

// New returns ErrUnsupported.
func New() (*Poller, error) { return nil, ErrUnsupported }

// Arm returns ErrUnsupported.
func (*Poller) Arm(*Registration, syscall.RawConn, Waker) error { return ErrUnsupported }

// Release does nothing.
func (*Poller) Release(*Registration) {}

// Slots returns zeros.
func (*Poller) Slots() (total, held int) { return 0, 0 }

// Run returns at once.
func (*Poller) Run() error { return nil }

// Shutdown does nothing.
func (*Poller) Shutdown() error { return nil }
