package loadgen

import (
	"math/bits"
	"time"
)

// latencies is a log-linear histogram of durations: exact below 64 ns, then
// 32 buckets per power of two (about 3% resolution). Its size is fixed, so
// a run of any length records every sample in bounded memory. Each
// connection owns one; they are merged at the end.
type latencies struct {
	counts [64 + 58*32]uint64
	n      uint64
	max    time.Duration
}

func latencyBucket(d time.Duration) int {
	v := uint64(max(d, 0))
	if v < 64 {
		return int(v)
	}
	e := bits.Len64(v) - 6 // v>>e is in [32, 64)
	return 64 + (e-1)*32 + int(v>>e) - 32
}

// latencyValue is the middle of bucket i.
func latencyValue(i int) time.Duration {
	if i < 64 {
		return time.Duration(i)
	}
	e := (i-64)/32 + 1
	m := uint64((i-64)%32 + 32)
	return time.Duration(m<<e + (uint64(1)<<e)/2)
}

func (l *latencies) record(d time.Duration) {
	i := min(latencyBucket(d), len(l.counts)-1)
	l.counts[i]++
	l.n++
	l.max = max(l.max, d)
}

func (l *latencies) merge(o *latencies) {
	for i, c := range o.counts {
		l.counts[i] += c
	}
	l.n += o.n
	l.max = max(l.max, o.max)
}

// quantile returns the q-quantile (0 < q ≤ 1), or 0 with no samples.
func (l *latencies) quantile(q float64) time.Duration {
	if l.n == 0 {
		return 0
	}
	rank := uint64(q*float64(l.n) + 0.5)
	rank = max(rank, 1)
	var seen uint64
	for i, c := range l.counts {
		seen += c
		if seen >= rank {
			return min(latencyValue(i), l.max)
		}
	}
	return l.max
}
