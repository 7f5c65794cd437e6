package main

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"time"
)

// printTable prints the results as one Markdown table.
func printTable(w io.Writer, cfg *config, results []*result) {
	fmt.Fprintln(w, "| setup | connections | open all s | RSS/conn KiB, per node | broadcast: all delivered ms | broadcast answer ms | wsd CPU/delivery µs | NATS CPU/broadcast ms | list all ms | page p50 ms | page p99 ms | partial answers |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range results {
		setup := "1 node, no --cluster"
		if r.sc.cluster {
			setup = fmt.Sprintf("%d nodes, --cluster", len(r.sc.conns))
		}
		rss := make([]string, len(r.rssPerConn))
		for i, b := range r.rssPerConn {
			rss[i] = fmt.Sprintf("%.1f", b/1024)
		}
		nats := "-"
		if r.sc.cluster {
			nats = medianDur(r.natsCPU, time.Millisecond)
		}
		conns := fmt.Sprint(r.sc.total())
		if len(r.sc.conns) > 1 {
			conns = fmt.Sprintf("%d × %d", len(r.sc.conns), r.sc.conns[0])
			if !allEqual(r.sc.conns) {
				conns = fmt.Sprintf("%d (%s)", r.sc.total(), joinInts(r.sc.conns))
			}
		}
		partial := "none"
		if r.bcastPartial > 0 || r.listPartial > 0 {
			partial = fmt.Sprintf("%d of %d broadcasts, %d of %d lists", r.bcastPartial, len(r.bcast), r.listPartial, len(r.listTotal))
		}
		fmt.Fprintf(w, "| %s | %s | %.1f | %s | %s | %s | %s | %s | %s (%d pages) | %s | %s | %s |\n",
			setup, conns, r.dial.Seconds(), strings.Join(rss, " / "),
			medianDur(r.bcast, time.Millisecond), medianDur(r.bcastAPI, time.Millisecond),
			medianFloat(r.cpuPerDel), nats,
			medianDur(r.listTotal, time.Millisecond), r.pagesPer,
			ms(quantile(r.pages, 0.5)), ms(quantile(r.pages, 0.99)), partial)
	}
	fmt.Fprintf(w, "\nMedian [min-max] of %d rounds (after one warm-up) on %d cores, %s; list pages of %d through node a; page percentiles over every page of every round.\n",
		cfg.rounds, runtime.NumCPU(), runtime.Version(), cfg.page)
}

func allEqual(xs []int) bool {
	for _, x := range xs {
		if x != xs[0] {
			return false
		}
	}
	return true
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, "+")
}

// quantile is the q-quantile of ds (nearest rank); 0 if empty.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }

// medianDur prints the median and spread of ds in unit.
func medianDur(ds []time.Duration, unit time.Duration) string {
	fs := make([]float64, len(ds))
	for i, d := range ds {
		fs[i] = float64(d) / float64(unit)
	}
	return medianFloat(fs)
}

// medianFloat prints "median [min-max]" of xs.
func medianFloat(xs []float64) string {
	if len(xs) == 0 {
		return "-"
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	if len(s) == 1 {
		return num(med)
	}
	return fmt.Sprintf("%s [%s-%s]", num(med), num(s[0]), num(s[len(s)-1]))
}

// num prints x with three significant digits, without an exponent.
func num(x float64) string {
	if x >= 100 || x <= -100 {
		return fmt.Sprintf("%.0f", x)
	}
	return fmt.Sprintf("%.3g", x)
}
