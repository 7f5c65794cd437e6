package faults

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/internal/wsdtest"
	"github.com/wsd-dev/wsd/protocol"
)

// TestHungCollector: an OTLP collector that accepts connections and never
// reads. wsd keeps serving (handshake and echo latencies printed) with
// every session traced, and its shutdown stays bounded.
func TestHungCollector(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan net.Conn, 64)
	go func() {
		defer close(held)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			select {
			case held <- c: // never read, never answered
			default:
				c.Close()
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for c := range held {
			c.Close()
		}
	})
	p := start(t, wsdtest.Options{Args: []string{"--drain-timeout", "2s", "--trace-frames", "all"}, Env: []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + ln.Addr().String(), "OTEL_BSP_SCHEDULE_DELAY=50", "OTEL_TRACES_SAMPLER=always_on",
	}})
	const sessions, msgs = 300, 10
	var hs, echo []time.Duration
	for range sessions {
		t0 := time.Now()
		c := dial(t, "ws://"+p.Addr+"/", nil)
		hs = append(hs, time.Since(t0))
		for range msgs {
			echo = append(echo, echoRTT(t, c))
		}
		if err := c.Close(protocol.StatusNormalClosure, ""); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(hs)
	slices.Sort(echo)
	stopped := stop(t, p, 30*time.Second)
	t.Logf("hung collector: %d traced sessions, %d echoes: handshake p50 %v p99 %v, echo p50 %v p99 %v; SIGTERM to exit %v",
		sessions, len(echo), percentile(hs, 0.5), percentile(hs, 0.99), percentile(echo, 0.5), percentile(echo, 0.99), stopped.Round(time.Millisecond))
	if p99 := percentile(echo, 0.99); p99 > 250*time.Millisecond {
		t.Errorf("echo p99 %v with the collector hung", p99)
	}
	if stopped > 2*time.Second+10*time.Second {
		t.Errorf("shutdown took %v with the collector hung", stopped)
	}
}

// TestDiskFull puts the state directory on a small tmpfs and fills it:
// history degrades (wsd_store_degraded 1) while WebSocket traffic goes on
// and wsd stays ready; freeing space recovers without a restart. It needs
// to mount a tmpfs (root, or CAP_SYS_ADMIN) and skips otherwise.
func TestDiskFull(t *testing.T) {
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (%v: %s): needs root or CAP_SYS_ADMIN", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	dir := filepath.Join(mnt, "state")
	p := start(t, wsdtest.Options{StateDir: dir, Args: []string{"--label-from-query", "pad"}})
	t.Cleanup(func() { kill(t, p) })
	filler := filepath.Join(mnt, "filler")
	fill(t, filler)

	url := "ws://" + p.Addr + "/?pad=" + fmt.Sprintf("%0120d", 0) // a label: bigger rows
	churn := func(n int) {
		for range n {
			c := dial(t, url, nil)
			if err := c.Close(protocol.StatusNormalClosure, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	start := time.Now()
	deadline := start.Add(60 * time.Second)
	for metrics(t, p)["wsd_store_degraded"] != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the store never degraded on a full disk")
		}
		churn(50)
	}
	degradedAfter := time.Since(start)
	c := dial(t, "ws://"+p.Addr+"/", nil)
	rtt := echoRTT(t, c)
	resp, err := http.Get("http://" + p.Admin + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz %d on a full disk, want 200 (history is degraded, the WebSocket path is not)", resp.StatusCode)
	}
	churn(200)

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	waitMetric(t, p, "wsd_store_degraded", 30*time.Second, func(v float64) bool { return v == 0 })
	m := metrics(t, p)
	t.Logf("disk full (8 MiB tmpfs): degraded after %v of churn; echo while degraded %v, /readyz %d; recovered %v after space was freed; "+
		"records written %v, dropped %v",
		degradedAfter.Round(time.Millisecond), rtt.Round(time.Microsecond), resp.StatusCode, time.Since(t1).Round(time.Millisecond),
		m["wsd_store_written_records_total"], m["wsd_store_dropped_records_total"])
}

// fill writes a file until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for range 1 << 16 {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatal(err)
		}
	}
	t.Fatal("the file system never filled")
}
