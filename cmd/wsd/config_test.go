package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/daemon"
	"github.com/wsd-dev/wsd/protocol"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigLayering(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "wsd.env")
	if err := os.WriteFile(file, []byte(`
# comment
export WSD_MAX_CONNECTIONS=100
WSD_PING_INTERVAL="7s"
WSD_ROUTE=/file=echo
WSD_ROUTE='/file2=sink'
WSD_SEND_QUEUE_BYTES=2MiB
OTHER_VARIABLE=ignored
`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig([]string{"--config", file, "--max-connections", "300"}, env(map[string]string{
		"WSD_MAX_CONNECTIONS":   "200", // flag wins
		"WSD_PING_INTERVAL":     "9s",  // env wins over file
		"STATE_DIRECTORY":       "/var/lib/wsd:/other",
		"WSD_TRUSTED_PROXIES":   "10.0.0.0/8, 192.0.2.1",
		"WSD_COMPRESSION":       "no-context-takeover",
		"WSD_HISTORY_RETENTION": "7d",
	}))
	if err != nil {
		t.Fatal(err)
	}
	d := c.daemon
	if d.MaxConnections != 300 || d.PingInterval != 9*time.Second || d.SendQueueBytes != 2<<20 {
		t.Errorf("layering: max-connections %d, ping %v, queue %d", d.MaxConnections, d.PingInterval, d.SendQueueBytes)
	}
	if len(d.Routes) != 2 || d.Routes[0].String() != "/file=echo" || d.Routes[1].String() != "/file2=sink" {
		t.Errorf("routes from file: %v", d.Routes)
	}
	if c.stateDir != "/var/lib/wsd" || c.historyRetention != 7*24*time.Hour {
		t.Errorf("state dir %q, retention %v", c.stateDir, c.historyRetention)
	}
	if len(d.TrustedProxies) != 2 || d.TrustedProxies[1].String() != "192.0.2.1/32" {
		t.Errorf("trusted proxies %v", d.TrustedProxies)
	}
	if d.Compression != protocol.CompressionNoContextTakeover {
		t.Errorf("compression %v", d.Compression)
	}

	// Defaults.
	c, err = loadConfig(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.listen != ":8080" || c.adminListen != "127.0.0.1:8081" || c.stateDir != "./wsd-data" ||
		len(c.daemon.Routes) != 1 || c.daemon.Routes[0].String() != "/=echo" || c.daemon.MaxMessageSize != daemon.DefaultMaxMessageSize {
		t.Errorf("defaults: %+v", c)
	}
	// Routes from the environment, several in one variable; static labels.
	c, err = loadConfig([]string{"--route-label", "/chat:tier=gold"}, env(map[string]string{"WSD_ROUTE": "/chat=relay:room  /=echo"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.daemon.Routes) != 2 || c.daemon.Routes[0].Labels["tier"] != "gold" {
		t.Errorf("env routes: %+v", c.daemon.Routes)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.env")
	if err := os.WriteFile(bad, []byte("WSD_NOT_A_SETTING=1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--nope"}, nil, "-nope"},
		{[]string{"extra"}, nil, `unexpected argument "extra"`},
		{[]string{"--cluster", "nope://127.0.0.1:4222"}, nil, `--cluster: "nope://127.0.0.1:4222": want nats://`},
		{[]string{"--config", bad}, nil, "bad.env:1: unknown setting WSD_NOT_A_SETTING"},
		{[]string{"--config", filepath.Join(dir, "missing")}, nil, "--config"},
		{nil, map[string]string{"WSD_SEND_QUEUE_BYTES": "lots"}, "WSD_SEND_QUEUE_BYTES"},
		{[]string{"--compression", "max"}, nil, "compression"},
		{[]string{"--history-retention", "0s"}, nil, "--history-retention"},
		{[]string{"--max-frame-size", "2MiB"}, nil, "--max-frame-size"},
		{[]string{"--route", "/a=echo", "--route", "/a=sink"}, nil, "appears twice"},
		{[]string{"--trusted-proxies", "nonsense"}, nil, "not an IP or CIDR"},
	} {
		_, err := loadConfig(tc.args, env(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: %v, want an error with %q", tc.args, tc.env, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error on several lines: %q", tc.args, err)
		}
	}
	if _, err := loadConfig([]string{"-h"}, env(nil)); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1024": 1024, "64KiB": 64 << 10, "1MiB": 1 << 20, "2M": 2 << 20, "3 kb": 3 << 10, "1GiB": 1 << 30, "10B": 10} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "-1", "1.5MiB", "99999999999GiB"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) accepted", in)
		}
	}
}

// TestHelpAndVersion: help writes flags as --flag (as the README and every
// message do), shows day durations as days, and --version is a flag too
// (issue 21).
func TestHelpAndVersion(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"-h"}, func(string) string { return "" }, &out, &errOut); code != exitOK {
		t.Fatalf("-h: exit %d %s", code, errOut.String())
	}
	help := out.String()
	for _, want := range []string{"  --max-connections int", "  --history-retention value", "(default 30d)"} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	if strings.Contains(help, "\n  -max") {
		t.Error("help writes single-dash flags")
	}
	for _, arg := range []string{"--version", "-version", "version"} {
		out.Reset()
		if code := run(context.Background(), []string{arg}, func(string) string { return "" }, &out, &errOut); code != exitOK || !strings.HasPrefix(out.String(), "wsd ") {
			t.Errorf("%s: exit %d, out %q", arg, code, out.String())
		}
	}
}

// TestJSONLogDurations: a duration in a JSON log line reads "1.5s", not a
// count of nanoseconds (issue 21).
func TestJSONLogDurations(t *testing.T) {
	var buf bytes.Buffer
	log := newLogger(&buf, "json", new(slog.LevelVar))
	log.Info("x", "elapsed", 1500*time.Millisecond)
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m["elapsed"] != "1.5s" {
		t.Fatalf("elapsed = %#v, want \"1.5s\"", m["elapsed"])
	}
}

// The inbound limits have flags (off by default), and the per-IP limits
// are off by default (issue 21: NATed users share an address).
func TestInboundLimitFlags(t *testing.T) {
	c, err := loadConfig(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	d := c.daemon
	if d.MaxMessagesPerSecond != 0 || d.MaxBytesPerSecond != 0 || d.MaxConnectionsPerIP != 0 || d.HandshakeRate != 0 || d.MaxConnections <= 0 {
		t.Errorf("defaults: %v msg/s, %v B/s, %d per IP, %v handshakes/s per IP, %d connections",
			d.MaxMessagesPerSecond, d.MaxBytesPerSecond, d.MaxConnectionsPerIP, d.HandshakeRate, d.MaxConnections)
	}
	c, err = loadConfig([]string{"--max-messages-per-second", "200", "--max-messages-burst", "400",
		"--max-bytes-per-second", "1MiB", "--max-bytes-burst", "4MiB"}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	d = c.daemon
	if d.MaxMessagesPerSecond != 200 || d.MaxMessagesBurst != 400 || d.MaxBytesPerSecond != 1<<20 || d.MaxBytesBurst != 4<<20 {
		t.Errorf("flags: %v/%d msg, %d/%d B", d.MaxMessagesPerSecond, d.MaxMessagesBurst, d.MaxBytesPerSecond, d.MaxBytesBurst)
	}
}
