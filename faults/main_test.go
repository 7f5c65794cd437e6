package faults

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/wsd-dev/wsd/internal/wsdtest"
	"github.com/wsd-dev/wsd/protocol"
)

// wsdBin is the wsd binary, built once by TestMain (without the race
// detector: the figures should be the product's).
var wsdBin string

func TestMain(m *testing.M) {
	if os.Getenv(stormClientEnv) != "" {
		os.Exit(stormClientMain())
	}
	if os.Getenv("WSD_FAULTS") != "1" {
		fmt.Println("faults: skipped (set WSD_FAULTS=1 to run the fault tier)")
		os.Exit(0)
	}
	os.Exit(wsdtest.Main(m, false, &wsdBin))
}

// start runs wsd with info logs (debug logs of thousands of connections
// would be the test's bottleneck) and args.
func start(t testing.TB, o wsdtest.Options) *wsdtest.Process {
	t.Helper()
	o.Bin = wsdBin
	o.Args = append([]string{"--log-level", "info", "--close-timeout", "1s"}, o.Args...)
	return wsdtest.Start(t, o)
}

// stop sends SIGTERM and waits for the exit; it returns how long that took.
func stop(t testing.TB, p *wsdtest.Process, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Exited:
	case <-time.After(timeout):
		t.Fatalf("wsd did not stop within %v", timeout)
	}
	if p.ExitErr != nil {
		t.Fatalf("wsd exit: %v", p.ExitErr)
	}
	return time.Since(start)
}

// kill sends SIGKILL and waits for the exit.
func kill(t testing.TB, p *wsdtest.Process) {
	t.Helper()
	if err := p.Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Exited:
	case <-time.After(10 * time.Second):
		t.Fatal("wsd did not die")
	}
}

func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// dial connects with the project's client; nil options dial from
// 127.0.0.1.
func dial(t testing.TB, url string, opts *protocol.DialOptions) *protocol.Conn {
	t.Helper()
	c, _, err := protocol.Dial(ctxFor(t, 10*time.Second), url, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// fromIP makes a client dial from a loopback source address.
func fromIP(ip string) *protocol.DialOptions {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &protocol.DialOptions{NetDialContext: d.DialContext}
}

// metrics scrapes the admin listener's /metrics into name{labels} → value.
func metrics(t testing.TB, p *wsdtest.Process) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + p.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitMetric polls /metrics until ok holds for the series key.
func waitMetric(t testing.TB, p *wsdtest.Process, key string, timeout time.Duration, ok func(float64) bool) float64 {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v, found := metrics(t, p)[key]
		if found && ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("metric %s: %v (found %v), never as wanted within %v", key, v, found, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// row is a session of history.
type row struct {
	ID, Labels, ClosedBy, Reason string
	Code                         int
	Closed                       bool
}

// history reads the sessions table of a state directory, read-only.
func history(t testing.TB, stateDir string) []row {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(stateDir, "wsd.db")+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT id, labels, coalesce(closed_by, ''), close_reason, coalesce(close_code, 0), closed_at IS NOT NULL FROM sessions`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.ID, &r.Labels, &r.ClosedBy, &r.Reason, &r.Code, &r.Closed); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// countBy counts the rows closed by by.
func countBy(rs []row, by string) int {
	n := 0
	for _, r := range rs {
		if r.ClosedBy == by {
			n++
		}
	}
	return n
}

// percentile returns the p-th percentile (0..1) of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(int(p*float64(len(sorted))), len(sorted)-1)]
}
