package main

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/wsd-dev/wsd/internal/wsdtest"
	"github.com/wsd-dev/wsd/protocol"
)

// wsdBin is the wsd binary built once by TestMain.
var wsdBin string

func TestMain(m *testing.M) {
	if os.Getenv(drainChildA) != "" {
		// A child process of TestMeasureDrainReconnect: clients only.
		os.Exit(m.Run())
	}
	os.Exit(wsdtest.Main(m, raceEnabled, &wsdBin))
}

// wsd is a running daemon under test.
type wsd struct {
	*wsdtest.Process
	t testing.TB
}

type wsdOpts struct {
	args     []string
	env      []string
	stateDir string     // default: a new temporary directory
	listen   string     // default 127.0.0.1:0
	wrap     []string   // a command that runs wsd: wrap... wsd args...
	files    []*os.File // passed as fd 3, 4, ...
}

// startWSD starts the binary with JSON logs on free loopback ports and
// waits until it listens (wsdtest.Start).
func startWSD(t testing.TB, o wsdOpts) *wsd {
	t.Helper()
	p := wsdtest.Start(t, wsdtest.Options{
		Bin: wsdBin, Args: append([]string{"--close-timeout", "1s"}, o.args...), Env: o.env,
		StateDir: o.stateDir, Listen: o.listen, Wrap: o.wrap, Files: o.files,
	})
	return &wsd{Process: p, t: t}
}

// cleanEnv is the test's environment without wsd's variables.
func cleanEnv() []string { return wsdtest.CleanEnv() }

// waitLog waits for a log line with that message (from any time) and
// returns it.
func (w *wsd) waitLog(msg string, timeout time.Duration) map[string]any {
	w.t.Helper()
	return w.waitLogAfter(0, msg, timeout)
}

// waitLogAfter waits for a line with that message among lines from index
// from on.
func (w *wsd) waitLogAfter(from int, msg string, timeout time.Duration) map[string]any {
	w.t.Helper()
	return w.WaitLog(w.t, from, timeout, func(m map[string]any) bool { return m["msg"] == msg })
}

func (w *wsd) url(path string) string { return "ws://" + w.Addr + path }

func (w *wsd) signal(sig os.Signal) {
	w.t.Helper()
	if err := w.Cmd.Process.Signal(sig); err != nil {
		w.t.Fatal(err)
	}
}

// wait waits for the process to exit and returns its exit code.
func (w *wsd) wait(timeout time.Duration) int {
	w.t.Helper()
	select {
	case <-w.Exited:
	case <-time.After(timeout):
		w.t.Fatalf("wsd still running after %v", timeout)
	}
	var ee *exec.ExitError
	if errors.As(w.ExitErr, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -int(ws.Signal())
		}
		return ee.ExitCode()
	}
	if w.ExitErr != nil {
		w.t.Fatal(w.ExitErr)
	}
	return 0
}

func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// dialWS connects with our protocol client.
func dialWS(t testing.TB, url string, opts *protocol.DialOptions) *protocol.Conn {
	t.Helper()
	c, resp, err := protocol.Dial(testCtx(t, 10*time.Second), url, opts)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", url, err, status)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// dialStatus dials and returns the HTTP status of a refused handshake (101
// if it succeeded, after closing the connection).
func dialStatus(t testing.TB, url string, opts *protocol.DialOptions) (int, http.Header) {
	t.Helper()
	c, resp, err := protocol.Dial(testCtx(t, 10*time.Second), url, opts)
	if err == nil {
		c.CloseNow()
		return http.StatusSwitchingProtocols, resp.Header
	}
	if resp == nil {
		t.Fatalf("dial %s: no response: %v", url, err)
	}
	return resp.StatusCode, resp.Header
}

// fromIP makes a client dial from a given loopback source address.
func fromIP(ip string) *protocol.DialOptions {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &protocol.DialOptions{NetDialContext: d.DialContext}
}

func readMessage(t testing.TB, c *protocol.Conn) (protocol.MessageType, []byte) {
	t.Helper()
	typ, p, err := c.Read(testCtx(t, 10*time.Second))
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return typ, p
}

// readClose reads until the connection ends and returns the close code the
// server sent (0 if none).
func readClose(t testing.TB, c *protocol.Conn) (protocol.StatusCode, string) {
	t.Helper()
	ctx := testCtx(t, 15*time.Second)
	for {
		_, _, err := c.Read(ctx)
		if err == nil {
			continue
		}
		var ce *protocol.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Reason
		}
		return 0, err.Error()
	}
}

// sessionRow is a row of the sessions table.
type sessionRow struct {
	ID, Route, RemoteAddr, Labels, CloseReason, ClosedBy, Error string
	CloseCode                                                   int
	Closed                                                      bool
	MessagesIn, MessagesOut                                     int64
}

// sessions reads the session table of a state directory, read-only.
func sessions(t testing.TB, stateDir string) []sessionRow {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(stateDir, "wsd.db")+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT id, route, remote_addr, labels, close_reason, coalesce(closed_by, ''), error,
		coalesce(close_code, 0), closed_at IS NOT NULL, messages_in, messages_out FROM sessions ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []sessionRow
	for rows.Next() {
		var s sessionRow
		if err := rows.Scan(&s.ID, &s.Route, &s.RemoteAddr, &s.Labels, &s.CloseReason, &s.ClosedBy, &s.Error,
			&s.CloseCode, &s.Closed, &s.MessagesIn, &s.MessagesOut); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitSessions polls the session table until ok holds.
func waitSessions(t testing.TB, stateDir string, what string, ok func([]sessionRow) bool) []sessionRow {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		s := sessions(t, stateDir)
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("sessions never showed %s: %+v", what, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func countBy(ss []sessionRow, closedBy string) int {
	n := 0
	for _, s := range ss {
		if s.ClosedBy == closedBy {
			n++
		}
	}
	return n
}

// httpGet fetches an admin URL and returns status and body.
func httpGet(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
