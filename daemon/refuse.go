package daemon

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"github.com/wsd-dev/wsd/protocol"
)

// Refusals: what a handshake that does not end in a 101 writes, and how
// its socket is closed.

// rejection is a refused handshake: the HTTP status and a one-line reason.
type rejection struct {
	status     int
	reason     string // shown to the client
	metric     string // handshake failure reason for stats
	retryAfter time.Duration
}

func (r *rejection) Error() string { return fmt.Sprintf("%d %s", r.status, r.reason) }

// refuse answers a connection refused before its request was read and
// closes it at once: it holds no place and no worker while a client takes
// its time. What the client has already sent is dropped first (without
// waiting for more), so that closing does not reset the connection under
// an answer the client has not read yet.
func (d *Daemon) refuse(nc net.Conn, rej *rejection) {
	d.stats.handshakeFailed(rej.metric)
	if err := nc.SetWriteDeadline(time.Now().Add(refuseWriteTimeout)); err == nil {
		if err := reject(nc, rej); err != nil {
			d.log.Debug("write handshake refusal", "remote_addr", nc.RemoteAddr().String(), "err", err)
		}
	}
	dropReceived(nc)
	d.closeRaw(nc)
}

// refuseWriteTimeout bounds the write of a refusal (a few hundred bytes
// into a new socket's empty buffer: it does not wait unless the client
// shrank its window to nothing).
const refuseWriteTimeout = 100 * time.Millisecond

// dropReceived reads and drops what nc has already received, up to 64 KiB,
// without waiting for more.
func dropReceived(nc net.Conn) {
	rc := rawConn(nc)
	if rc == nil {
		return
	}
	var scratch [4096]byte
	drop := func(fd uintptr) bool {
		for range 16 { // 64 KiB at most
			n, _, err := syscall.Recvfrom(int(fd), scratch[:], syscall.MSG_DONTWAIT)
			if err == syscall.EINTR {
				continue
			}
			if err != nil || n == 0 {
				break
			}
		}
		return true // never wait for readability
	}
	if err := rc.Read(drop); err != nil {
		return // closed already: nothing to drop
	}
}

// answer refuses a handshake whose request was read.
func (d *Daemon) answer(nc net.Conn, rej *rejection) {
	d.stats.handshakeFailed(rej.metric)
	d.log.Debug("handshake refused", "remote_addr", nc.RemoteAddr().String(), "status", rej.status, "reason", rej.reason)
	if err := reject(nc, rej); err != nil {
		d.log.Debug("write handshake error", "remote_addr", nc.RemoteAddr().String(), "err", err)
	}
	d.closeRaw(nc)
}

// handshakeFailed closes a connection whose handshake broke off.
func (d *Daemon) handshakeFailed(nc net.Conn, metric string, err error) {
	d.stats.handshakeFailed(metric)
	d.log.Debug("handshake failed", "remote_addr", nc.RemoteAddr().String(), "reason", metric, "err", err)
	d.closeRaw(nc)
}

func (d *Daemon) closeRaw(nc net.Conn) {
	if err := nc.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		d.log.Debug("close", "remote_addr", nc.RemoteAddr().String(), "err", err)
	}
}

// reject writes rej's complete answer (Connection: close, Retry-After
// when set) through the protocol package's one writer of refusals.
func reject(w io.Writer, rej *rejection) error {
	var hdr http.Header
	if rej.retryAfter > 0 {
		hdr = http.Header{"Retry-After": {strconv.Itoa(int((rej.retryAfter + time.Second - 1) / time.Second))}}
	}
	if err := protocol.Reject(w, rej.status, hdr, rej.reason); err != nil {
		return fmt.Errorf("write %d response: %w", rej.status, err)
	}
	return nil
}
