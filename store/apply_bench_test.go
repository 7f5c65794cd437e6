package store

import (
	"context"
	"testing"
	"time"
)

// BenchmarkApplyBatch measures the writer's own cost per record: one
// transaction of 512 records (256 opens, then the closes of the previous
// 256 sessions), called directly with no queue and no producers.
func BenchmarkApplyBatch(b *testing.B) {
	var cs commitStats
	s := benchStore(b, &cs)
	w, err := newWriter(s)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := w.closeStmts(); err != nil {
			b.Error(err)
		}
	}()
	ctx := context.Background()
	const half = 256
	recs := make([]record, 0, 2*half)
	b.ResetTimer()
	cpu0 := processCPU()
	for i := 0; i < b.N; i += 2 * half {
		recs = recs[:0]
		for j := range half {
			o := sessionAt(9, i/2+j)
			labels, err := encodeLabels(o.Labels)
			if err != nil {
				b.Fatal(err)
			}
			recs = append(recs, &openRecord{SessionOpen: o, labels: labels, queued: time.Now()})
			if i > 0 {
				recs = append(recs, &closeRecord{SessionClose: closeOf(9, i/2+j-half), queued: time.Now()})
			}
		}
		if err := w.apply(ctx, recs, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N)/1000, "cpu-µs/record")
}
