package store

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/session"
)

// commitStats collects CommitInfo from the writer goroutine.
type commitStats struct {
	mu       sync.Mutex
	duration []time.Duration // BEGIN..COMMIT per batch
	maxWait  []time.Duration // enqueue..commit of the oldest record per batch
	records  int
}

func (c *commitStats) observe(ci CommitInfo) {
	c.mu.Lock()
	c.duration = append(c.duration, ci.Duration)
	c.maxWait = append(c.maxWait, ci.MaxWait)
	c.records += ci.Records
	c.mu.Unlock()
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

func benchStore(b testing.TB, cs *commitStats) *Store {
	return testStore(b, func(c *Config) {
		c.Logger = slog.New(slog.DiscardHandler)
		c.OnCommit = cs.observe
	})
}

// sessionAt builds a realistic open record.
func sessionAt(p, i int) session.Open {
	return session.Open{
		ID:          fmt.Sprintf("01J%02d%020d", p, i),
		Route:       "/v1/chat",
		RemoteAddr:  "198.51.100.23:53124",
		User:        fmt.Sprint("user-", i%5000),
		Labels:      map[string]string{"room": fmt.Sprint("room-", i%100), "tier": "gold"},
		Origin:      "https://app.example.com",
		UserAgent:   "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0",
		Subprotocol: "chat.v1",
	}
}

const openWindow = 1024 // sessions each producer keeps open before closing the oldest

func closeOf(p, i int) session.Close {
	return session.Close{ID: sessionAt(p, i).ID, CloseCode: 1000, ClosedBy: session.ClosedByClient,
		MessagesIn: 12, MessagesOut: 40, BytesIn: 1200, BytesOut: 9000}
}

func reportLatencies(b *testing.B, s *Store, cs *commitStats, enqueue []time.Duration, elapsed, cpu time.Duration) {
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "sessions/s")
	// CPU per session, producers and writer together: unlike sessions/s it
	// does not move with other load on the machine.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/1000, "cpu-µs/session")
	b.ReportMetric(float64(pct(enqueue, 0.50).Nanoseconds()), "enqueue-p50-ns")
	b.ReportMetric(float64(pct(enqueue, 0.99).Nanoseconds()), "enqueue-p99-ns")
	b.ReportMetric(float64(pct(enqueue, 1).Nanoseconds()), "enqueue-max-ns")
	cs.mu.Lock()
	defer cs.mu.Unlock()
	b.ReportMetric(float64(pct(cs.duration, 0.50).Microseconds())/1000, "commit-p50-ms")
	b.ReportMetric(float64(pct(cs.duration, 0.99).Microseconds())/1000, "commit-p99-ms")
	b.ReportMetric(float64(pct(cs.maxWait, 0.50).Microseconds())/1000, "durable-p50-ms")
	b.ReportMetric(float64(pct(cs.maxWait, 0.99).Microseconds())/1000, "durable-p99-ms")
	if len(cs.duration) > 0 {
		b.ReportMetric(float64(cs.records)/float64(len(cs.duration)), "records/commit")
	}
	h := s.Health()
	b.ReportMetric(float64(h.Dropped), "dropped")
	// The WAL must stay bounded under steady load (see checkpoint.go).
	b.ReportMetric(float64(h.WALBytes)/(1<<20), "wal-MiB")
}

// BenchmarkStoreOpenClose measures the most sessions (one open plus one
// close each; a close hits a row committed earlier) the store absorbs per
// second with synchronous=NORMAL. Four producers stand in for connection
// goroutines and back off (sleeping) only while the queue is three quarters full, so
// the rate is the writer's, with nothing dropped. Metrics: sessions/s;
// enqueue-* = the caller's cost of one Record call; commit-* = one batch
// transaction; durable-* = enqueue to commit of a batch's oldest record,
// which here is mostly time spent in the deliberately full queue (see
// BenchmarkStoreSustained for it at a given rate).
func BenchmarkStoreOpenClose(b *testing.B) {
	var cs commitStats
	s := benchStore(b, &cs)
	const producers = 4
	lat := make([][]time.Duration, producers)
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU()
	var wg sync.WaitGroup
	for p := range producers {
		n := b.N / producers
		if p < b.N%producers {
			n++
		}
		lat[p] = make([]time.Duration, 0, 2*n)
		wg.Go(func() {
			for i := range n {
				for len(s.queue) > cap(s.queue)*3/4 {
					// Back off without spinning: a yield loop would take
					// the CPU the writer needs.
					time.Sleep(100 * time.Microsecond)
				}
				o := sessionAt(p, i)
				t0 := time.Now()
				s.RecordOpen(o)
				t1 := time.Now()
				lat[p] = append(lat[p], t1.Sub(t0))
				if i >= openWindow {
					c := closeOf(p, i-openWindow)
					t0 = time.Now()
					s.RecordClose(c)
					lat[p] = append(lat[p], time.Since(t0))
				}
			}
		})
	}
	wg.Wait()
	if err := s.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	elapsed, cpu := time.Since(start), processCPU()-cpu0
	b.StopTimer()
	reportLatencies(b, s, &cs, slices.Concat(lat...), elapsed, cpu)
}

// BenchmarkStoreSustained offers a steady rate of sessions (each one open
// and one close: 2 records) for b.N sessions and reports whether the store
// kept up (dropped must be 0) and the caller-side, commit and
// enqueue-to-durable latencies at that rate. Run with -benchtime=Nx so each
// rate runs for N/rate seconds.
func BenchmarkStoreSustained(b *testing.B) {
	for _, rate := range []int{5000, 10000, 20000} {
		b.Run(fmt.Sprintf("sessions=%d/s", rate), func(b *testing.B) { benchSustained(b, rate) })
	}
}

func benchSustained(b *testing.B, rate int) {
	const (
		producers = 4
		tick      = time.Millisecond
	)
	var cs commitStats
	s := benchStore(b, &cs)
	lat := make([][]time.Duration, producers)
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU()
	var wg sync.WaitGroup
	for p := range producers {
		n := b.N / producers
		lat[p] = make([]time.Duration, 0, 2*n)
		wg.Go(func() {
			perSecond := float64(rate) / producers
			for i := 0; i < n; {
				// Emit what is due by now, then sleep one tick: this paces
				// the offered load; it does not wait for a result.
				due := min(n, int(perSecond*time.Since(start).Seconds())+1)
				for ; i < due; i++ {
					t0 := time.Now()
					s.RecordOpen(sessionAt(p, i))
					t1 := time.Now()
					lat[p] = append(lat[p], t1.Sub(t0))
					if i >= openWindow {
						t0 = time.Now()
						s.RecordClose(closeOf(p, i-openWindow))
						lat[p] = append(lat[p], time.Since(t0))
					}
				}
				time.Sleep(tick)
			}
		})
	}
	wg.Wait()
	if err := s.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	elapsed, cpu := time.Since(start), processCPU()-cpu0
	b.StopTimer()
	reportLatencies(b, s, &cs, slices.Concat(lat...), elapsed, cpu)
	if h := s.Health(); h.Dropped > 0 {
		b.Logf("the store did not keep up with %d sessions/s: %d of %d records dropped", rate, h.Dropped, 2*b.N)
	}
}
