package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/protocol"
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
	want("WATCHDOG=1\nSTATUS=serving 0 connections")
	// A client connects: the next STATUS line counts it.
	c, _, err := protocol.Dial(context.Background(), w.url("/"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	want("WATCHDOG=1\nSTATUS=serving 1 connections")
	w.signal(syscall.SIGTERM)
	want("STOPPING=1")
	if code := w.wait(10 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// TestSocketActivation passes the WebSocket listener as systemd does
// (LISTEN_FDS, LISTEN_PID, fd 3): wsd serves on it instead of --listen.
func TestSocketActivation(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// LISTEN_PID must be wsd's own pid: the shell sets it to its own and
	// then becomes wsd.
	w := startWSD(t, wsdOpts{
		listen: "127.0.0.1:1", // would fail if used
		wrap:   []string{"/bin/sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=ws exec "$0" "$@"`},
		files:  []*os.File{f},
	})
	if w.Addr != ln.Addr().String() {
		t.Fatalf("serving on %s, want the activated socket %s", w.Addr, ln.Addr())
	}
	c := dialWS(t, w.url("/"), nil)
	if err := c.Write(context.Background(), protocol.TextMessage, []byte("activated")); err != nil {
		t.Fatal(err)
	}
	if _, p := readMessage(t, c); string(p) != "activated" {
		t.Fatalf("echo %q", p)
	}
}
