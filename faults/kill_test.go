package faults

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/internal/wsdtest"
	"github.com/wsd-dev/wsd/protocol"
)

// TestKillLoop kills wsd with SIGKILL 20 times under live sessions, with
// bookkeeping of what each client saw:
//
//   - committed: closed cleanly (the client got the server's close
//     frame) and then seen in history before the kill; after any number of
//     kills it is still there, closed by the client;
//   - racing: closed cleanly just before the kill (inside the store's
//     durability window: at most a flush interval and a commit are lost
//     to a process crash, store/doc.go); it is in history, closed by the
//     client or, if its close was still queued, recovered as a crash;
//   - open: open at the kill; recovered as a crash (1006).
//
// No session is missing, none stays open after a restart.
func TestKillLoop(t *testing.T) {
	const iterations, perKind = 20, 5
	dir := t.TempDir()
	want := map[string]string{} // cid → "committed", "racing", "open"
	var starts []time.Duration
	for it := range iterations {
		t0 := time.Now()
		p := start(t, wsdtest.Options{StateDir: dir, Args: []string{"--label-from-query", "cid"}})
		starts = append(starts, time.Since(t0))
		url := "ws://" + p.Addr + "/"
		conns := map[string]*protocol.Conn{}
		for _, kind := range []string{"committed", "racing", "open"} {
			for j := range perKind {
				cid := fmt.Sprintf("%s-%d-%d", kind, it, j)
				conns[cid] = dial(t, url+"?cid="+cid, nil)
				want[cid] = kind
			}
		}
		closeClean := func(kind string) {
			for j := range perKind {
				cid := fmt.Sprintf("%s-%d-%d", kind, it, j)
				if err := conns[cid].Close(protocol.StatusNormalClosure, "bye"); err != nil {
					t.Fatalf("%s: close not acknowledged: %v", cid, err)
				}
			}
		}
		closeClean("committed")
		waitHistory(t, dir, "the committed closes", func(rs []row) bool {
			n := 0
			for _, r := range rs {
				if strings.Contains(r.Labels, fmt.Sprintf(`"committed-%d-`, it)) && r.ClosedBy == "client" {
					n++
				}
			}
			return n == perKind
		})
		closeClean("racing")
		kill(t, p)
	}
	// The last restart recovers the last kill's sessions.
	p := start(t, wsdtest.Options{StateDir: dir})
	stop(t, p, 30*time.Second)

	rs := history(t, dir)
	byCID := map[string]row{}
	for _, r := range rs {
		for cid := range want {
			if strings.Contains(r.Labels, `"`+cid+`"`) {
				byCID[cid] = r
			}
		}
	}
	lostRacing := 0
	for cid, kind := range want {
		r, ok := byCID[cid]
		switch {
		case !ok:
			t.Errorf("%s (%s): missing from history", cid, kind)
		case !r.Closed:
			t.Errorf("%s (%s): still open after restart: %+v", cid, kind, r)
		case kind == "committed" && (r.ClosedBy != "client" || r.Code != 1000):
			t.Errorf("%s: acknowledged and committed close became %s %d", cid, r.ClosedBy, r.Code)
		case kind == "racing" && r.ClosedBy == "crash":
			lostRacing++
		case kind == "racing" && r.ClosedBy != "client":
			t.Errorf("%s: acknowledged close became %s %d", cid, r.ClosedBy, r.Code)
		case kind == "open" && (r.ClosedBy != "crash" || r.Code != 1006):
			t.Errorf("%s: open at the kill, recorded %s %d, want crash 1006", cid, r.ClosedBy, r.Code)
		}
	}
	var slowest time.Duration
	for _, d := range starts {
		slowest = max(slowest, d)
	}
	t.Logf("kill -9 loop: %d kills, %d sessions (%d per kind each time); committed closes kept: all; "+
		"closes acknowledged right before the kill recorded as crash: %d of %d; open at the kill recovered as crash: %d; slowest start %v",
		iterations, len(want), perKind, lostRacing, iterations*perKind, countBy(rs, "crash")-lostRacing, slowest.Round(time.Millisecond))
}

// waitHistory polls history until ok holds.
func waitHistory(t testing.TB, dir, what string, ok func([]row) bool) []row {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		rs := history(t, dir)
		if ok(rs) {
			return rs
		}
		if time.Now().After(deadline) {
			t.Fatalf("history never showed %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
