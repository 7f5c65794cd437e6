package store

import (
	"context"
	"testing"
	"time"
)

// BenchmarkApplyBatch measures the writer's own cost per record: one
// transaction of 512 records (256 opens, then the closes of the previous
// 256 sessions), called directly with no queue and no producers.
func BenchmarkApplyBatch(b *testing.B) { benchApply(b, batchPrevious) }

// BenchmarkApplyBatchChurn is BenchmarkApplyBatch for sessions that last
// about a millisecond: each batch holds the opens of 256 sessions and their
// closes, each close 8 records after its open, as connection churn puts
// them on the queue.
func BenchmarkApplyBatchChurn(b *testing.B) { benchApply(b, batchChurn) }

// BenchmarkApplyBatchChurnIndexes is BenchmarkApplyBatchChurn with indexes
// of the sessions table dropped first: where a row's cost goes.
func BenchmarkApplyBatchChurnIndexes(b *testing.B) {
	for _, bc := range []struct {
		name string
		drop []string
	}{
		{"all", nil},
		{"no-user", []string{"sessions_user"}},
		{"no-route", []string{"sessions_route"}},
		{"no-closed", []string{"sessions_closed"}},
		{"no-connected", []string{"sessions_connected"}},
		{"none", []string{"sessions_user", "sessions_route", "sessions_closed", "sessions_connected"}},
	} {
		b.Run(bc.name, func(b *testing.B) { benchApplyDropping(b, batchChurn, bc.drop) })
	}
}

// BenchmarkSessionPairs measures the writer's search for opens and closes
// of one session in a batch, on the batches of the two benchmarks above.
func BenchmarkSessionPairs(b *testing.B) {
	for _, bc := range []struct {
		name string
		fill func(b *testing.B, recs []record, i, half int) []record
	}{{"closes=previous", batchPrevious}, {"closes=churn", batchChurn}} {
		b.Run(bc.name, func(b *testing.B) {
			const half = 256
			recs := bc.fill(b, nil, 2*half, half)
			p := sessionPairs{reuse: 2 * half}
			b.ReportAllocs()
			for b.Loop() {
				p.find(recs)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(recs)), "ns/record")
		})
	}
}

// batchPrevious appends the batch that starts at record i: the opens of half
// sessions and the closes of the half before them (none in the first batch).
func batchPrevious(b *testing.B, recs []record, i, half int) []record {
	for j := range half {
		recs = append(recs, benchOpen(b, i/2+j))
		if i > 0 {
			recs = append(recs, benchClose(i/2+j-half))
		}
	}
	return recs
}

// batchChurn appends the batch that starts at record i: the opens of half
// sessions and their closes, each 8 records after its open.
func batchChurn(b *testing.B, recs []record, i, half int) []record {
	const lag = 8
	for j := range half {
		recs = append(recs, benchOpen(b, i/2+j))
		if j >= lag {
			recs = append(recs, benchClose(i/2+j-lag))
		}
	}
	for j := half - lag; j < half; j++ {
		recs = append(recs, benchClose(i/2+j))
	}
	return recs
}

// benchApply runs batches of 512 records built by fill (which appends the
// records of the batch starting at record i, half sessions' worth) through
// writer.apply and reports the process CPU per record.
func benchApply(b *testing.B, fill func(b *testing.B, recs []record, i, half int) []record) {
	benchApplyDropping(b, fill, nil)
}

// benchApplyDropping is benchApply after dropping the named indexes.
func benchApplyDropping(b *testing.B, fill func(b *testing.B, recs []record, i, half int) []record, drop []string) {
	var cs commitStats
	s := benchStore(b, &cs)
	for _, ix := range drop {
		if _, err := s.wdb.Exec("DROP INDEX " + ix); err != nil {
			b.Fatal(err)
		}
	}
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
		recs = fill(b, recs[:0], i, half)
		if err := w.apply(ctx, recs, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N)/1000, "cpu-µs/record")
}

func benchOpen(b *testing.B, i int) *openRecord {
	o := sessionAt(9, i)
	labels, err := encodeLabels(o.Labels)
	if err != nil {
		b.Fatal(err)
	}
	return &openRecord{Open: o, labels: labels, queued: time.Now()}
}

func benchClose(i int) *closeRecord {
	return &closeRecord{Close: closeOf(9, i), queued: time.Now()}
}
