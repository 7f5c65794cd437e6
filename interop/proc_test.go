package interop

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// markerVar is set, with a value unique to one process, in the environment
// of every client process. Environments are inherited, so it also marks
// what a client starts that leaves its process group and session
// (Chromium's zygotes and crash handlers call setsid): stop finds them all
// by it and kills them.
const markerVar = "INTEROP_PROC_MARK"

// proc is a client process in its own process group.
type proc struct {
	cmd    *exec.Cmd
	marker string
	stdin  io.WriteCloser // nil unless asked for
	out    *lineBuffer
	errOut *lineBuffer
	exited chan struct{}
	err    error // set before exited is closed
}

// startProc starts argv in dir. With pipeStdin, proc.stdin feeds it.
func startProc(t testing.TB, dir string, pipeStdin bool, argv ...string) *proc {
	t.Helper()
	mark := make([]byte, 8)
	if _, err := rand.Read(mark); err != nil {
		t.Fatal(err)
	}
	p := &proc{
		marker: markerVar + "=" + hex.EncodeToString(mark),
		out:    newLineBuffer(),
		errOut: newLineBuffer(),
		exited: make(chan struct{}),
	}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Dir = dir
	p.cmd.Env = append(cleanEnv(), p.marker)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.errOut
	// Output is copied by exec's goroutines, which Wait awaits; a grandchild
	// holding the pipes open must not keep Wait from returning.
	p.cmd.WaitDelay = 2 * time.Second
	if pipeStdin {
		var err error
		if p.stdin, err = p.cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", argv[0], err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	return p
}

// wait waits up to timeout for the process to exit by itself.
func (p *proc) wait(timeout time.Duration) bool {
	select {
	case <-p.exited:
		return true
	case <-time.After(timeout):
		return false
	}
}

// stop ends the process: SIGTERM to its group (the browser driver then
// closes its browser), SIGKILL after grace, then every process that carries
// its marker, wherever it went.
func (p *proc) stop(t testing.TB, grace time.Duration) {
	t.Helper()
	select {
	case <-p.exited:
	default:
		signalGroup(t, p.cmd.Process.Pid, syscall.SIGTERM)
		if !p.wait(grace) {
			signalGroup(t, p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.exited
		}
	}
	killMarked(t, p.marker)
}

func signalGroup(t testing.TB, pid int, sig syscall.Signal) {
	if err := syscall.Kill(-pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		t.Errorf("signal %v to process group %d: %v", sig, pid, err)
	}
}

// runProcess runs argv in dir, bounded by timeout, and returns its stdout
// and stderr. Whatever it started is killed before runProcess returns.
func runProcess(t testing.TB, timeout time.Duration, dir string, argv ...string) (stdout, stderr string, err error) {
	t.Helper()
	p := startProc(t, dir, false, argv...)
	if !p.wait(timeout) {
		p.stop(t, 3*time.Second)
		return p.out.String(), p.errOut.String(), fmt.Errorf("%s: still running after %v", argv[0], timeout)
	}
	killMarked(t, p.marker)
	return p.out.String(), p.errOut.String(), p.err
}

// killMarked kills every process whose environment holds marker and waits,
// up to a deadline, until none is left.
func killMarked(t testing.TB, marker string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids := markedPIDs(marker)
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("processes %v outlived their client", pids)
			return
		}
		for _, pid := range pids {
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				t.Errorf("kill %d: %v", pid, err)
			}
		}
		time.Sleep(20 * time.Millisecond) // polling /proc until they are gone
	}
}

// markedPIDs lists the live processes (zombies have no environment left)
// whose environment holds marker.
func markedPIDs(marker string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue // gone, or not ours to read
		}
		for _, kv := range strings.Split(string(env), "\x00") {
			if kv == marker {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// lineBuffer collects a process's output and never blocks its writer;
// readers are woken on each complete line.
type lineBuffer struct {
	mu     sync.Mutex
	all    bytes.Buffer
	lines  []string
	part   []byte
	notify chan struct{}
}

func newLineBuffer() *lineBuffer { return &lineBuffer{notify: make(chan struct{}, 1)} }

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.all.Write(p)
	b.part = append(b.part, p...)
	woke := false
	for {
		i := bytes.IndexByte(b.part, '\n')
		if i < 0 {
			break
		}
		b.lines = append(b.lines, string(b.part[:i]))
		b.part = b.part[i+1:]
		woke = true
	}
	if woke {
		select {
		case b.notify <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

func (b *lineBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.all.String()
}

// count is the number of complete lines so far.
func (b *lineBuffer) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.lines)
}

// line returns line i once it is complete.
func (b *lineBuffer) line(i int) (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if i < len(b.lines) {
		return b.lines[i], true
	}
	return "", false
}

// since returns the output after the first n bytes, for failure reports.
func (b *lineBuffer) since(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.all.Bytes()[min(n, b.all.Len()):])
}

func (b *lineBuffer) size() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.all.Len()
}
