package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary play the roles the benchmark re-executes
// itself for (the NATS server, the clients).
func TestMain(m *testing.M) {
	if ok, err := runRole(os.Args[1:]); ok {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestTinyFleet runs every scenario at 3 × 200 connections against a wsd
// built from this checkout (or FLEETBENCH_WSD, a binary): the benchmark
// works end to end and its table has a row per scenario. Skipped with
// -short.
func TestTinyFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("starts NATS, three wsd and three client processes")
	}
	bin := os.Getenv("FLEETBENCH_WSD")
	if bin == "" {
		bin = filepath.Join(t.TempDir(), "wsd")
		build := exec.Command("go", "build", "-o", bin, "./cmd/wsd")
		build.Dir = filepath.Join("..", "..", "..")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build ./cmd/wsd: %v\n%s", err, out)
		}
	}
	cfg, err := parseFlags([]string{"-wsd", bin, "-per-node", "200", "-total", "300", "-rounds", "2", "-page", "128",
		"-per-ip", "100", "-per-client", "150", "-timeout", "3m"})
	if err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	results, err := run(ctx, cfg, &progress)
	t.Logf("progress:\n%s", progress.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 3 {
		t.Fatalf("%d results, want 3", len(results))
	}
	for _, r := range results {
		if len(r.bcast) != 2 || len(r.listTotal) != 2 || len(r.rssPerConn) != len(r.sc.conns) {
			t.Errorf("%s: %d broadcasts, %d lists, %d RSS figures", r.sc.name, len(r.bcast), len(r.listTotal), len(r.rssPerConn))
		}
		if want := (r.sc.total() + 127) / 128; r.pagesPer != want {
			t.Errorf("%s: %d pages, want %d", r.sc.name, r.pagesPer, want)
		}
	}
	var table bytes.Buffer
	printTable(&table, cfg, results)
	t.Logf("table:\n%s", table.String())
	for _, want := range []string{"| 1 node, no --cluster | 300 |", "| 3 nodes, --cluster | 3 × 100 |", "| 3 nodes, --cluster | 3 × 200 |"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q", want)
		}
	}
}

func TestSplit(t *testing.T) {
	for _, c := range []struct {
		total, n int
		want     string
	}{{19000, 3, "[6334 6333 6333]"}, {6, 3, "[2 2 2]"}, {5, 1, "[5]"}} {
		if got := fmt.Sprint(split(c.total, c.n)); got != c.want {
			t.Errorf("split(%d, %d) = %s, want %s", c.total, c.n, got, c.want)
		}
	}
}

func TestParseRSS(t *testing.T) {
	got, err := parseRSS(strings.NewReader("Name:\twsd\nVmPeak:\t  10 kB\nVmRSS:\t    2048 kB\n"))
	if err != nil || got != 2048*1024 {
		t.Fatalf("parseRSS = %d, %v", got, err)
	}
	if _, err := parseRSS(strings.NewReader("Name:\twsd\n")); err == nil {
		t.Fatal("no error without VmRSS")
	}
}

func TestQuantile(t *testing.T) {
	ds := make([]time.Duration, 100)
	for i := range ds {
		ds[i] = time.Duration(100-i) * time.Millisecond
	}
	if q := quantile(ds, 0.5); q != 50*time.Millisecond {
		t.Errorf("p50 = %v", q)
	}
	if q := quantile(ds, 0.99); q != 99*time.Millisecond {
		t.Errorf("p99 = %v", q)
	}
}
