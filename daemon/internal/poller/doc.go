// Package poller watches idle sockets without a goroutine each. A caller
// with nothing to read arms its socket (Arm: one readiness event, one
// shot) and lets its reading goroutine end; when the socket becomes
// readable, hangs up or fails, the poller calls the Waker given to Arm,
// which starts a new reading goroutine. An idle connection then costs its
// own state but no goroutine: no stack (2 KiB at the least) and no
// goroutine descriptor.
//
// The contract is narrow: the poller knows a raw socket
// (syscall.RawConn), a Registration the caller keeps for it and a Waker;
// it never holds anything else of the caller's.
//
// # Concurrency
//
// One goroutine runs Run until Shutdown. Arm and Release may be called
// from any goroutine, but for one Registration only by its owner, one at a
// time. Wake is called on Run's goroutine with the Poller's lock held: it
// must not block and must not call the Poller; it usually hands the
// connection to another goroutine. After Release returns, the Waker of that
// Registration is never called again.
//
// The epoll poller exists on Linux only; elsewhere New returns
// ErrUnsupported and callers keep a goroutine per connection.
package poller

import "errors"

// Waker is told that an armed socket is ready to be read (or has hung up,
// or failed): once per successful Arm.
type Waker interface {
	Wake()
}

var (
	// ErrUnsupported is New's error where there is no poller.
	ErrUnsupported = errors.New("poller: not supported on this platform")
	// ErrStopped is Arm's error after Shutdown.
	ErrStopped = errors.New("poller: stopped")
)
