package interop

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/wsd-dev/wsd/internal/wsdtest"
)

// wsdBin is the wsd binary TestMain builds (with -race when the tests run
// with it, so that real clients exercise the daemon under the detector);
// wsctlBin is the operator CLI, built as it ships (CGO_ENABLED=0).
var wsdBin, wsctlBin string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "wsd-interop-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	wsdBin, wsctlBin = filepath.Join(dir, "wsd"), filepath.Join(dir, "wsctl")
	args := []string{"build", "-o", wsdBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	builds := []*exec.Cmd{
		exec.Command("go", append(args, "github.com/wsd-dev/wsd/cmd/wsd")...),
		exec.Command("go", "build", "-o", wsctlBin, "github.com/wsd-dev/wsd/cmd/wsctl"),
	}
	builds[1].Env = append(os.Environ(), "CGO_ENABLED=0")
	for _, cmd := range builds {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", strings.Join(cmd.Args, " "), err)
			return 1
		}
	}
	return m.Run()
}

// wsd is a running daemon under test.
type wsd struct {
	*wsdtest.Process
	name string

	tokenMu sync.Mutex
	token   string // admin token, minted on first use
}

// startWSD starts the binary on free loopback ports with JSON debug logs
// and waits until it listens (wsdtest.Start). It is killed when the test
// ends.
func startWSD(t testing.TB, name string, args ...string) *wsd {
	t.Helper()
	p := wsdtest.Start(t, wsdtest.Options{Bin: wsdBin, Args: append([]string{"--close-timeout", "2s"}, args...)})
	return &wsd{Process: p, name: name}
}

// cleanEnv is the test's environment without wsd's variables.
func cleanEnv() []string { return wsdtest.CleanEnv() }

// wsctl runs the real CLI against this daemon's admin API with a token
// minted by the real `wsd token create` from the daemon's own key.
func (w *wsd) wsctl(t testing.TB, args ...string) string {
	t.Helper()
	argv := append([]string{wsctlBin, "--server", "http://" + w.Admin, "--token", w.adminToken(t), "--timeout", "10s"}, args...)
	out, stderr, err := runProcess(t, 30*time.Second, ".", argv...)
	if err != nil {
		t.Fatalf("wsctl %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return out
}

// adminToken mints the admin token on first use.
func (w *wsd) adminToken(t testing.TB) string {
	t.Helper()
	w.tokenMu.Lock()
	defer w.tokenMu.Unlock()
	if w.token == "" {
		out, stderr, err := runProcess(t, 30*time.Second, ".", wsdBin, "token", "create", "--state-dir", w.StateDir,
			"--subject", "interop", "--scope", "connections:read,connections:close", "--ttl", "10m")
		if err != nil {
			t.Fatalf("wsd token create: %v\n%s", err, stderr)
		}
		w.token = strings.TrimSpace(out)
	}
	return w.token
}

// liveID polls `wsctl ls` until the connection tagged tag is live and
// returns its id.
func (w *wsd) liveID(t testing.TB, tag string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if ids := strings.Fields(w.wsctl(t, "ls", "-l", "tag="+tag, "-q")); len(ids) == 1 {
			return ids[0]
		} else if len(ids) > 1 {
			t.Fatalf("several live connections tagged %s: %v", tag, ids)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no live connection tagged %s within 20s", tag)
		}
		time.Sleep(20 * time.Millisecond) // polling another process
	}
}

// waitWritten polls `wsctl inspect` until wsd has written n messages to
// connection id (counted once written to the socket, so anything wsd sends
// later reaches the client after them).
func (w *wsd) waitWritten(t testing.TB, id string, n int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var c struct {
			MessagesOut int64 `json:"messages_out"`
		}
		if err := json.Unmarshal([]byte(w.wsctl(t, "inspect", id, "-o", "json")), &c); err != nil {
			t.Fatalf("wsctl inspect -o json: %v", err)
		}
		if c.MessagesOut >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("wsd wrote %d messages to %s in 20s, want %d", c.MessagesOut, id, n)
		}
		time.Sleep(20 * time.Millisecond) // polling another process
	}
}

// session is what wsd recorded of one session.
type session struct {
	ID, Subprotocol, Extensions, CloseReason, ClosedBy, Error string
	CloseCode                                                 int
	MessagesIn, MessagesOut                                   int64
}

// closedSession polls the session table (opened read-only) until the
// session tagged tag is closed, and returns it.
func (w *wsd) closedSession(t testing.TB, tag string) session {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(w.StateDir, "wsd.db")+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var s session
		err := db.QueryRow(`SELECT id, subprotocol, extensions, close_reason, closed_by, error, close_code,
			messages_in, messages_out FROM sessions
			WHERE json_extract(labels, '$.tag') = ? AND closed_at IS NOT NULL`, tag).Scan(
			&s.ID, &s.Subprotocol, &s.Extensions, &s.CloseReason, &s.ClosedBy, &s.Error, &s.CloseCode,
			&s.MessagesIn, &s.MessagesOut)
		switch {
		case err == nil:
			return s
		case !errors.Is(err, sql.ErrNoRows):
			t.Fatalf("reading the session tagged %s: %v", tag, err)
		case time.Now().After(deadline):
			t.Fatalf("wsd %s recorded no closed session tagged %s within 15s", w.name, tag)
		}
		time.Sleep(20 * time.Millisecond) // polling a file another process writes
	}
}
