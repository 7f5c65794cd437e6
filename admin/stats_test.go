package admin

import (
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/session"
)

// countingHub is a Hub whose totals the test sets; only Stats is called.
type countingHub struct {
	Hub
	started          time.Time
	accepted, closed atomic.Uint64
}

func (h *countingHub) Stats() session.Stats {
	return session.Stats{StartedAt: h.started, Accepted: h.accepted.Load(),
		ClosedBy: map[session.ClosedBy]uint64{session.ClosedByClient: h.closed.Load()}}
}

// TestRatesOnTheSamplersClock: the rates of /v1/stats span the sampler's
// last ten seconds whenever they are asked for, however close together
// the callers are (issue 21: a window of 27 ms gave 0/s), and the sampler
// ends with Shutdown (synctest fails the test if it does not).
func TestRatesOnTheSamplersClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hub := &countingHub{started: time.Now()}
		srv, err := New(Config{}, Deps{Hub: hub, History: degraded{}, Tokens: noTokens{}})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Shutdown()
		rates := func() apitype.Rates { return rates(srv.rates.Rates(time.Now(), hub.Stats())) }

		// Before the second sample: the average since start.
		time.Sleep(500 * time.Millisecond)
		hub.accepted.Add(5)
		if r := rates(); r.WindowSeconds != 0.5 || r.ConnectsPerSecond != 10 {
			t.Fatalf("since start: %+v", r)
		}
		// 10 connects and 4 closes a second, half-way between samples.
		for range 30 {
			time.Sleep(time.Second)
			hub.accepted.Add(10)
			hub.closed.Add(4)
		}
		want := apitype.Rates{WindowSeconds: 10, ConnectsPerSecond: 10, ClosesPerSecond: 4}
		for _, gap := range []time.Duration{0, 27 * time.Millisecond, 0, 300 * time.Millisecond} {
			time.Sleep(gap)
			if r := rates(); r != want {
				t.Fatalf("%v after the previous ask: %+v, want %+v", gap, r, want)
			}
		}
		// Traffic stops: the rates fall to 0 within the window.
		time.Sleep(11 * time.Second)
		if r := rates(); r != (apitype.Rates{WindowSeconds: 10}) {
			t.Fatalf("after traffic stopped: %+v", r)
		}
	})
}

type noTokens struct{ Tokens }
