package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/wsd-dev/wsd/admin/apitype"
)

// openPTY opens a pseudo-terminal pair (master, slave) or skips the test
// where the system has none.
func openPTY(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	// Through Control, not m.Fd(), which would make reads blocking and
	// deaf to deadlines.
	rc, err := m.SyscallConn()
	if err != nil {
		t.Skipf("pseudo-terminal: %v", err)
	}
	var (
		n     uint32
		errno syscall.Errno
	)
	if err := rc.Control(func(fd uintptr) {
		var unlock int32
		if _, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); errno == 0 {
			_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n)))
		}
	}); err != nil || errno != 0 {
		t.Skipf("set up pseudo-terminal: %v %v", err, errno)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("open pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// TestIsTerminal: a pseudo-terminal is a terminal; /dev/null (a character
// device too), a pipe and a regular file are not (issue 21: a bulk kill
// with </dev/null prompted).
func TestIsTerminal(t *testing.T) {
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if isTerminal(null) {
		t.Errorf("%s counts as a terminal", os.DevNull)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if isTerminal(r) || isTerminal(w) {
		t.Error("a pipe counts as a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "f")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) {
		t.Error("a regular file counts as a terminal")
	}
	if isTerminal(nil) || isTerminal(w.Name()) {
		t.Error("a non-file counts as a terminal")
	}
	_, slave := openPTY(t)
	if !isTerminal(slave) {
		t.Error("a pseudo-terminal does not count as a terminal")
	}
}

// fakeAdmin serves a fixed list of two connections and answers bulk
// closes (a dry run: 2 match; else 2 closed, with the confirmation it
// got), recording the confirmations.
func fakeAdmin(t *testing.T) (*httptest.Server, chan *int) {
	t.Helper()
	confirms := make(chan *int, 4)
	conns := []apitype.Connection{
		{ID: "01a2161b-0000-7000-8000-00000000000a", Route: "/", RemoteAddr: "127.0.0.1:1"},
		{ID: "01a2161b-0000-7000-8000-00000000000b", Route: "/", RemoteAddr: "127.0.0.1:2"},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var out any
		switch r.URL.Path {
		case "/v1/connections":
			out = apitype.ConnectionList{Connections: conns}
		case "/v1/close":
			var req apitype.CloseRequest
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			if req.DryRun {
				out = apitype.BulkResult{Matched: 2, DryRun: true, Sample: conns}
			} else {
				confirms <- req.Confirm
				out = apitype.BulkResult{Matched: 2, Queued: 2}
			}
		default:
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(out); err != nil {
			t.Error(err)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, confirms
}

// readAll collects what the terminal shows until the deadline or EOF.
func readAll(m *os.File, d time.Duration) string {
	if err := m.SetReadDeadline(time.Now().Add(d)); err != nil {
		return "set deadline: " + err.Error()
	}
	var b bytes.Buffer
	buf := make([]byte, 4096)
	for {
		n, err := m.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

// TestLsWatchTerminal: on a terminal, ls -w redraws the table in place
// (cursor home, clear screen) instead of appending.
func TestLsWatchTerminal(t *testing.T) {
	m, s := openPTY(t)
	srv, _ := fakeAdmin(t)
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"--server", srv.URL, "--token", "t", "ls", "-w", "--interval", "100ms", "--count", "3"},
		env{stdin: strings.NewReader(""), stdout: s, stderr: &stderr, getenv: func(string) string { return "" }})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	// What ls wrote sits in the terminal's buffer; a short deadline
	// ends the read once it is drained.
	out := readAll(m, 500*time.Millisecond)
	if n := strings.Count(out, clearScreen); n != 3 {
		t.Errorf("%d redraws, want 3:\n%q", n, out)
	}
	if n := strings.Count(out, "01a2161b-0000-7000-8000-00000000000a"); n != 3 {
		t.Errorf("the connection appears %d times, want 3:\n%q", n, out)
	}
}

// TestKillPromptsOnTerminal: a bulk kill without --yes asks on a real
// terminal, and the answer "y" confirms with the match count.
func TestKillPromptsOnTerminal(t *testing.T) {
	m, s := openPTY(t)
	srv, confirms := fakeAdmin(t)
	if _, err := m.Write([]byte("y\n")); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--server", srv.URL, "--token", "t", "kill", "-l", "room=x"},
		env{stdin: s, stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "Close them with 1000? [y/N]") {
		t.Errorf("no prompt on a terminal; stderr:\n%s", stderr.String())
	}
	select {
	case c := <-confirms:
		if c == nil || *c != 2 {
			t.Errorf("confirm %v, want 2", c)
		}
	default:
		t.Error("nothing closed")
	}
	if got := stdout.String(); got != "matched 2, closing 2, dropped 0\n" {
		t.Errorf("stdout %q", got)
	}
}
