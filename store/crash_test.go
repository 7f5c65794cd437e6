package store

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/session"
)

// The kill -9 test re-runs this test binary as a child that writes to the
// store; these variables switch TestMain into that mode.
const (
	crashChildEnv  = "WSD_STORE_CRASH_CHILD"  // database path
	crashPrefixEnv = "WSD_STORE_CRASH_PREFIX" // makes session ids unique per child
)

func TestMain(m *testing.M) {
	if path := os.Getenv(crashChildEnv); path != "" {
		if err := crashChild(path, os.Getenv(crashPrefixEnv)); err != nil {
			fmt.Fprintln(os.Stderr, "crash child:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	m.Run()
}

// crashChild writes sessions until it is killed. After each Flush returns
// nil it prints one line per record that Flush covered ("open <id>",
// "close <id>"): the parent treats those as acknowledged, so they must
// survive the kill.
func crashChild(path, prefix string) error {
	ctx := context.Background()
	s, err := Open(ctx, Config{
		Path: path, Node: "child", QueueSize: 4096,
		FlushInterval: time.Millisecond, HeartbeatInterval: 5 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	if err != nil {
		return err
	}
	out := bufio.NewWriter(os.Stdout)
	if _, err := fmt.Fprintln(out, "ready"); err != nil {
		return err
	}
	if err := out.Flush(); err != nil {
		return err
	}
	// A bound in case the parent dies without killing us.
	deadline := time.Now().Add(time.Minute)
	var prev []string
	for round := 0; time.Now().Before(deadline); round++ {
		var opened []string
		for j := range 8 {
			id := fmt.Sprintf("%s-%05d-%d", prefix, round, j)
			s.RecordOpen(session.Open{ID: id, Route: "/crash", Labels: map[string]string{"round": fmt.Sprint(round)}})
			opened = append(opened, id)
		}
		for _, id := range prev {
			s.RecordClose(session.Close{ID: id, CloseCode: 1000, ClosedBy: session.ClosedByClient, MessagesIn: 1})
		}
		s.RecordAudit(session.AuditEntry{Subject: prefix, Action: "round", Target: fmt.Sprint(round)})
		if err := s.Flush(ctx); err != nil {
			return err
		}
		for _, id := range opened {
			fmt.Fprintln(out, "open", id)
		}
		for _, id := range prev {
			fmt.Fprintln(out, "close", id)
		}
		if err := out.Flush(); err != nil {
			return err // the parent has gone
		}
		prev = opened
	}
	return s.Close()
}

// childOutput collects the complete lines a child prints.
type childOutput struct {
	mu    sync.Mutex
	lines []string
	ready chan struct{} // closed at the "ready" line
	done  chan struct{} // closed at EOF
	err   error
}

func readChild(r io.Reader) *childOutput {
	o := &childOutput{ready: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(o.done)
		br := bufio.NewReader(r)
		readyClosed := false
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				// A line cut by the kill has no newline: it is not an
				// acknowledgement, even though its record was committed.
				if !errors.Is(err, io.EOF) {
					o.err = err
				}
				if !readyClosed {
					close(o.ready)
				}
				return
			}
			line = strings.TrimSuffix(line, "\n")
			if line == "ready" && !readyClosed {
				close(o.ready)
				readyClosed = true
				continue
			}
			o.mu.Lock()
			o.lines = append(o.lines, line)
			o.mu.Unlock()
		}
	}()
	return o
}

// TestKillNineLoop kills a writing child with SIGKILL at random points
// (during start-up and migrations, and while writing) and checks after every
// kill that every acknowledged record is in the database, that reopening
// closes whatever the child left open, and that integrity_check is ok. A
// fresh file every 10 kills puts more kills inside migrations.
func TestKillNineLoop(t *testing.T) {
	iterations, budget := 200, 15*time.Second
	if testing.Short() {
		iterations, budget = 20, 4*time.Second
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	dir := t.TempDir()
	ctx := context.Background()

	var (
		path       string
		acked      map[string]bool         // id -> close acknowledged
		startup    = 20 * time.Millisecond // longest start-up to "ready" seen so far
		ackedTotal int
		crashed    int // sessions closed by crash recovery, all files
		fileCrash  int // crash-closed rows in the current file
		startKills int
	)
	began := time.Now()
	it := 0
	for ; it < iterations && time.Since(began) < budget; it++ {
		if it%10 == 0 {
			path = filepath.Join(dir, fmt.Sprintf("kill-%03d.db", it))
			acked = map[string]bool{}
			fileCrash = 0
		}
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+path, crashPrefixEnv+"="+fmt.Sprintf("i%03d", it))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		started := time.Now()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		out := readChild(stdout)

		// One kill in three lands anywhere in start-up (Open, migrations,
		// recovery); the others while the child is writing.
		if rng.IntN(3) == 0 {
			startKills++
			time.Sleep(rand.N(startup + startup/5))
		} else {
			select {
			case <-out.ready:
			case <-time.After(time.Minute):
				t.Fatal("child never became ready")
			}
			startup = max(startup, time.Since(started))
			time.Sleep(rand.N(40 * time.Millisecond))
		}
		if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			t.Fatal(err)
		}
		<-out.done
		waitErr := cmd.Wait()
		var exitErr *exec.ExitError
		if !errors.As(waitErr, &exitErr) || exitErr.ExitCode() != -1 { // -1: killed by a signal
			t.Fatalf("iteration %d: child was not killed by the signal: %v\nstderr:\n%s", it, waitErr, stderr.String())
		}
		if out.err != nil {
			t.Fatal(out.err)
		}
		for _, line := range out.lines {
			kind, id, ok := strings.Cut(line, " ")
			switch {
			case ok && kind == "open":
				if _, seen := acked[id]; !seen {
					acked[id] = false
				}
			case ok && kind == "close":
				acked[id] = true
			default:
				t.Fatalf("child printed %q", line)
			}
		}
		ackedTotal += len(out.lines)
		n := verifyAfterKill(t, ctx, path, acked, it)
		crashed += n - fileCrash
		fileCrash = n
	}
	t.Logf("%d kills (%d during start-up), %d acknowledged records checked, %d sessions closed by crash recovery, %v",
		it, startKills, ackedTotal, crashed, time.Since(began).Round(time.Millisecond))
	if it >= 10 && crashed == 0 {
		t.Error("no kill ever left a session open; the test is not exercising recovery")
	}
}

// verifyAfterKill reopens the database the way the daemon would and checks
// the invariants; it returns how many sessions in the file crash recovery
// has closed so far.
func verifyAfterKill(t *testing.T, ctx context.Context, path string, acked map[string]bool, it int) int {
	t.Helper()
	s, err := Open(ctx, Config{Path: path, Retention: 100 * 365 * 24 * time.Hour})
	if err != nil {
		t.Fatalf("iteration %d: reopen after kill: %v", it, err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Fatalf("iteration %d: close: %v", it, err)
		}
	}()
	var res string
	if err := s.rdb.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
		t.Fatalf("iteration %d: integrity_check = %q, %v", it, res, err)
	}
	rows, err := s.rdb.QueryContext(ctx, "SELECT id, closed_at IS NULL, coalesce(close_code, 0), coalesce(closed_by, '') FROM sessions")
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		open bool
		code int
		by   string
	}
	got := map[string]row{}
	for rows.Next() {
		var id string
		var r row
		if err := rows.Scan(&id, &r.open, &r.code, &r.by); err != nil {
			t.Fatal(closeRows(rows, err))
		}
		got[id] = r
	}
	if err := closeRows(rows, rows.Err()); err != nil {
		t.Fatal(err)
	}
	crashed := 0
	for id, r := range got {
		if r.open {
			t.Fatalf("iteration %d: %s still open after recovery", it, id)
		}
		if r.by == string(session.ClosedByCrash) && r.code == CrashCloseCode {
			crashed++
		}
	}
	for id, closed := range acked {
		r, ok := got[id]
		if !ok {
			t.Fatalf("iteration %d: acknowledged session %s lost", it, id)
		}
		if closed && (r.code != 1000 || r.by != string(session.ClosedByClient)) {
			t.Fatalf("iteration %d: acknowledged close of %s lost: %+v", it, id, r)
		}
	}
	return crashed
}
