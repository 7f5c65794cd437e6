package main

import (
	"fmt"
	"log/slog"
	"net"
	"time"

	sdactivation "github.com/coreos/go-systemd/v22/activation"
	sddaemon "github.com/coreos/go-systemd/v22/daemon"
)

// notifier sends sd_notify messages when NOTIFY_SOCKET is set (Type=notify);
// otherwise it does nothing.
type notifier struct{ log *slog.Logger }

func (n notifier) notify(state string) {
	if _, err := sddaemon.SdNotify(false, state); err != nil {
		n.log.Warn("sd_notify failed", "state", state, "err", err)
	}
}

// watchdog feeds the systemd watchdog at half its interval while healthy
// reports nil, until stop is closed. Health comes from the daemon's own
// machinery, so a wedged daemon is restarted by systemd.
func (n notifier) watchdog(stop <-chan struct{}, healthy func() error) {
	every, err := sddaemon.SdWatchdogEnabled(false)
	if err != nil {
		n.log.Warn("systemd watchdog settings unreadable", "err", err)
		return
	}
	if every <= 0 {
		return
	}
	t := time.NewTicker(every / 2)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if err := healthy(); err != nil {
				n.log.Error("not feeding the systemd watchdog", "err", err)
				continue
			}
			n.notify(sddaemon.SdNotifyWatchdog)
		}
	}
}

// activatedListeners returns the sockets systemd passed (socket activation):
// one named "admin" (FileDescriptorName=admin) is the admin listener, the
// others serve WebSocket traffic. Both are nil without LISTEN_FDS.
func activatedListeners() (ws []net.Listener, admin net.Listener, err error) {
	named, err := sdactivation.ListenersWithNames()
	if err != nil {
		return nil, nil, fmt.Errorf("socket activation: %w", err)
	}
	for name, lns := range named {
		for _, ln := range lns {
			if ln == nil {
				continue
			}
			if name == "admin" && admin == nil {
				admin = ln
				continue
			}
			ws = append(ws, ln)
		}
	}
	return ws, admin, nil
}
