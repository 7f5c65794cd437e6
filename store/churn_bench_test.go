package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/session"
)

// BenchmarkStoreChurn is the store's share of connection churn as wsd
// meets it (wsctl bench churn): sessions of about a millisecond offered at
// a steady rate, each open followed by its close one tick later, with
// time-ordered ids and the fields an anonymous client leaves (no user, no
// labels). Records go through RecordOpen and RecordClose and the real
// writer, so batching and commit sizes are the daemon's. cpu-µs/session is
// the process CPU (producer, writer, checkpointer) per session. The
// producer and its pacing account for about 16 of it here (measured once
// with the writer's commits stubbed out). Run with -benchtime=Nx.
func BenchmarkStoreChurn(b *testing.B) {
	const (
		rate = 4000 // sessions per second, about what churn reaches here
		tick = time.Millisecond
	)
	var cs commitStats
	s := benchStore(b, &cs)
	base := time.Now()
	open := func(i int) session.Open {
		return session.Open{
			// Time-ordered, as the daemon's UUIDv7 ids are.
			ID:          fmt.Sprintf("%08x-%04x-7000-8000-%012x", base.Unix(), i>>16, i),
			Route:       "/",
			RemoteAddr:  fmt.Sprintf("127.0.0.1:%d", 10000+i%50000),
			UserAgent:   "wsctl-bench",
			ConnectedAt: base.Add(time.Duration(i) * time.Second / rate),
		}
	}
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU()
	var prev []string
	for i := 0; i < b.N; {
		due := min(b.N, int(rate*time.Since(start).Seconds())+1)
		for _, id := range prev {
			s.RecordClose(session.Close{ID: id, CloseCode: 1000, ClosedBy: session.ClosedByClient})
		}
		prev = prev[:0]
		for ; i < due; i++ {
			o := open(i)
			s.RecordOpen(o)
			prev = append(prev, o.ID)
		}
		time.Sleep(tick)
	}
	for _, id := range prev {
		s.RecordClose(session.Close{ID: id, CloseCode: 1000, ClosedBy: session.ClosedByClient})
	}
	if err := s.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	elapsed, cpu := time.Since(start), processCPU()-cpu0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/1000, "cpu-µs/session")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "sessions/s")
	cs.mu.Lock()
	if len(cs.duration) > 0 {
		b.ReportMetric(float64(cs.records)/float64(len(cs.duration)), "records/commit")
	}
	cs.mu.Unlock()
	if h := s.Health(); h.Dropped > 0 {
		b.Fatalf("%d records dropped", h.Dropped)
	}
}
