// Package wsdtest runs the real wsd binary for end-to-end tests: on free
// loopback ports, with JSON logs that it captures and lets a test wait
// for, stopped (SIGKILL if still running) when the test ends; and WebSocket
// clients for tests: one that reads as messages come (Client) and one
// written by hand, frame by frame (Raw). It serves the tests of cmd/wsd,
// interop, faults, admin, cluster and daemon; the product never imports it.
package wsdtest

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options says how to start wsd. Bin is required; Args come after the
// harness's own flags (--listen, --admin-listen, --state-dir, JSON debug
// logs, no handshake rate limit), so they may override them.
type Options struct {
	Bin      string
	Args     []string
	Env      []string   // added to the test's environment without wsd's variables (CleanEnv)
	StateDir string     // default: a new temporary directory
	Listen   string     // default 127.0.0.1:0
	Wrap     []string   // a command that runs wsd: Wrap... Bin args...
	Files    []*os.File // passed as fd 3, 4, ...
}

// Process is a running wsd.
type Process struct {
	Cmd      *exec.Cmd
	Addr     string // the WebSocket listener, host:port
	Admin    string // the admin API listener, host:port
	StateDir string
	Exited   chan struct{} // closed once the process has exited
	ExitErr  error         // set before Exited is closed

	mu    sync.Mutex
	logs  []map[string]any
	raw   strings.Builder
	newLn chan struct{} // signalled on every log line
}

// Start starts wsd and waits until it logs that it listens.
func Start(t testing.TB, o Options) *Process {
	t.Helper()
	if o.StateDir == "" {
		o.StateDir = t.TempDir()
	}
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	args := append([]string{"--listen", o.Listen, "--admin-listen", "127.0.0.1:0",
		"--state-dir", o.StateDir, "--log-format", "json", "--log-level", "debug",
		"--handshake-rate", "0"}, o.Args...)
	cmd := exec.Command(o.Bin, args...)
	if len(o.Wrap) > 0 {
		cmd = exec.Command(o.Wrap[0], append(append(o.Wrap[1:], o.Bin), args...)...)
	}
	cmd.ExtraFiles = o.Files
	cmd.Env = append(CleanEnv(), o.Env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &Process{Cmd: cmd, StateDir: o.StateDir, Exited: make(chan struct{}), newLn: make(chan struct{}, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logsDone := make(chan struct{})
	go func() {
		defer close(logsDone)
		p.readLogs(stderr)
	}()
	go func() {
		<-logsDone // Wait closes the pipe: read it to the end first
		p.ExitErr = cmd.Wait()
		close(p.Exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.Exited:
		default:
			if err := cmd.Process.Kill(); err != nil {
				t.Errorf("kill wsd: %v", err)
			}
			<-p.Exited
		}
		if t.Failed() {
			t.Logf("wsd (%s) log:\n%s", strings.Join(args, " "), p.Raw())
		}
	})
	line := p.WaitLog(t, 0, 60*time.Second, func(m map[string]any) bool { return m["msg"] == "listening" })
	p.Addr, _ = line["addr"].(string)
	p.Admin, _ = line["admin"].(string)
	if p.Addr == "" || p.Admin == "" {
		t.Fatalf("wsd: no address in %v", line)
	}
	return p
}

// CleanEnv is the test's environment without the variables that configure
// wsd, its tracing or its systemd integration.
func CleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WSD_") && !strings.HasPrefix(kv, "NOTIFY_SOCKET=") && !strings.HasPrefix(kv, "LISTEN_") &&
			!strings.HasPrefix(kv, "OTEL_") {
			env = append(env, kv)
		}
	}
	return env
}

func (p *Process) readLogs(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			m = map[string]any{"msg": line}
		}
		p.mu.Lock()
		p.logs = append(p.logs, m)
		p.raw.WriteString(line + "\n")
		p.mu.Unlock()
		select {
		case p.newLn <- struct{}{}:
		default:
		}
	}
}

// LogCount is the number of log lines so far: a mark for WaitLog.
func (p *Process) LogCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.logs)
}

// Raw returns the log as written.
func (p *Process) Raw() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.raw.String()
}

// WaitLog waits for a log line from index from on that satisfies ok and
// returns it; it fails the test when wsd exits first or timeout passes.
func (p *Process) WaitLog(t testing.TB, from int, timeout time.Duration, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		for _, m := range p.logs[min(from, len(p.logs)):] {
			if ok(m) {
				p.mu.Unlock()
				return m
			}
		}
		p.mu.Unlock()
		select {
		case <-p.newLn:
		case <-p.Exited:
			t.Fatalf("wsd exited (%v) before the awaited log line", p.ExitErr)
		case <-deadline.C:
			t.Fatalf("wsd did not log the awaited line within %v", timeout)
		}
	}
}
