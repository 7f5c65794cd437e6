package main

import (
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSdNotify checks READY, WATCHDOG and STOPPING over NOTIFY_SOCKET, as
// systemd's Type=notify with WatchdogSec= would see them.
func TestSdNotify(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "notify.sock")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	msgs := make(chan string, 64)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := ln.ReadFromUnix(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	w := startWSD(t, wsdOpts{env: []string{"NOTIFY_SOCKET=" + sock, "WATCHDOG_USEC=200000"}})
	want := func(prefix string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case m := <-msgs:
				if strings.HasPrefix(m, prefix) {
					return
				}
			case <-deadline:
				t.Fatalf("no %q notification", prefix)
			}
		}
	}
	want("READY=1")
	want("WATCHDOG=1")
	want("WATCHDOG=1")
	w.signal(syscall.SIGTERM)
	want("STOPPING=1")
	if code := w.wait(10 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
