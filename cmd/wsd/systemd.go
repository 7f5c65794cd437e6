package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
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

// statusEvery is how often the STATUS= line is refreshed when systemd's
// watchdog is off.
const statusEvery = 10 * time.Second

// watchdog feeds the systemd watchdog at half its interval while healthy
// reports nil, and refreshes the STATUS= line (systemctl status) with
// status(), until stop is closed. Health comes from the daemon's own
// machinery, so a wedged daemon is restarted by systemd. Without
// NOTIFY_SOCKET it returns at once.
func (n notifier) watchdog(stop <-chan struct{}, healthy func() error, status func() string) {
	if os.Getenv("NOTIFY_SOCKET") == "" {
		return
	}
	every, err := sddaemon.SdWatchdogEnabled(false)
	if err != nil {
		n.log.Warn("systemd watchdog settings unreadable", "err", err)
		every = 0
	}
	tick := statusEvery
	if every > 0 {
		tick = every / 2
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			state := "STATUS=" + status()
			if every > 0 {
				if err := healthy(); err != nil {
					n.log.Error("not feeding the systemd watchdog", "err", err)
					n.notify(state)
					continue
				}
				state = sddaemon.SdNotifyWatchdog + "\n" + state
			}
			n.notify(state)
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
