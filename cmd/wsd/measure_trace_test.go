package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/protocol"
)

// TestMeasureTraceCPU measures what tracing costs: server CPU time per
// echoed message (64 connections, 1 KiB binary messages) with tracing off,
// with --trace-frames=control and with --trace-frames=all, sampling every
// session and exporting to a real Jaeger over OTLP/HTTP. With
// WSD_MEASURE_BASE_BIN set to a wsd built before tracing existed, that
// binary is measured too (the cost of tracing when off). Skipped unless
// WSD_MEASURE_TRACE is a duration per run, e.g.
//
//	git archive 808af0c | tar -x -C /tmp/wsd-base && (cd /tmp/wsd-base && go build -o /tmp/wsd-base.bin ./cmd/wsd)
//	WSD_MEASURE_TRACE=10s WSD_MEASURE_BASE_BIN=/tmp/wsd-base.bin go test -run TestMeasureTraceCPU -v ./cmd/wsd
//
// The load is a fixed total rate (WSD_MEASURE_RATE messages per second,
// default 8000, spread over the connections), so that every variant
// serves the same traffic: at saturation a slower variant would also batch
// fewer messages per system call, and its CPU per message would mix the
// cost of tracing with that of smaller batches. Servers run on CPU 0, the
// load generator and Jaeger on CPU 1 (when taskset exists). The variants
// take turns, WSD_MEASURE_ROUNDS times (3); the median is reported.
func TestMeasureTraceCPU(t *testing.T) {
	d, _ := time.ParseDuration(os.Getenv("WSD_MEASURE_TRACE"))
	if d <= 0 {
		t.Skip("set WSD_MEASURE_TRACE=10s to measure")
	}
	rounds, rate := 3, 8000
	if n, err := strconv.Atoi(os.Getenv("WSD_MEASURE_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	if n, err := strconv.Atoi(os.Getenv("WSD_MEASURE_RATE")); err == nil && n > 0 {
		rate = n
	}
	j := startJaeger(t)
	pin := func(cpu string, pid int) {
		if out, err := exec.Command("taskset", "-a", "-c", "-p", cpu, strconv.Itoa(pid)).CombinedOutput(); err != nil {
			t.Logf("taskset (not pinned): %v %s", err, out)
		}
	}
	pin("1", os.Getpid())
	pin("1", j.pid)
	otel := []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + j.otlpHTTP, "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf", "OTEL_TRACES_SAMPLER=always_on"}
	type variant struct {
		name string
		opts wsdOpts
	}
	variants := []variant{
		{"off", wsdOpts{}},
		{"control", wsdOpts{args: []string{"--trace-frames", "control"}, env: otel}},
		{"all", wsdOpts{args: []string{"--trace-frames", "all"}, env: otel}},
	}
	if base := os.Getenv("WSD_MEASURE_BASE_BIN"); base != "" {
		// Run the older binary in place of this one: sh drops the path of
		// the binary under test and execs base with the same arguments.
		variants = append([]variant{{"base", wsdOpts{wrap: []string{"/bin/sh", "-c", `shift; exec "$0" "$@"`, base}}}}, variants...)
	}
	perMsg := map[string][]float64{}
	for round := range rounds {
		for _, v := range variants {
			v.opts.args = append(v.opts.args, "--log-level", "info", "--max-connections-per-ip", "0")
			w := startWSD(t, v.opts)
			pid := w.Cmd.Process.Pid
			pin("0", pid)
			msgs, cpu := echoLoadRate(t, w.url("/"), pid, 64, 1024, rate, d)
			us := float64(cpu.total().Microseconds()) / float64(msgs)
			perMsg[v.name] = append(perMsg[v.name], us)
			extra := ""
			if v.name == "control" || v.name == "all" {
				_, body := httpGet(t, "http://"+w.Admin+"/metrics")
				extra = " spans " + metricLine(body, "wsd_trace_spans_ended_total") + " ended, " +
					metricLine(body, "wsd_trace_spans_exported_total") + " exported, " +
					metricLine(body, "wsd_trace_spans_failed_total") + " failed"
			}
			t.Logf("round %d %-8s %8d messages, %6.0f msg/s, server CPU %v (user %v, system %v), %.2f µs per message%s",
				round, v.name, msgs, float64(msgs)/d.Seconds(), cpu.total(), cpu.user, cpu.sys, us, extra)
			w.Cmd.Process.Kill()
			<-w.Exited
		}
	}
	med := func(xs []float64) float64 {
		s := append([]float64(nil), xs...)
		sort.Float64s(s)
		return s[len(s)/2]
	}
	off := med(perMsg["off"])
	var summary []string
	for _, v := range variants {
		m := med(perMsg[v.name])
		summary = append(summary, fmt.Sprintf("%s %.2f µs/msg (%.2f× off)", v.name, m, m/off))
	}
	t.Logf("median server CPU per message: %s", strings.Join(summary, ", "))
}

// echoLoadRate drives conns echo connections at rate messages per second
// in total for d, and returns the messages echoed and the server's CPU
// time meanwhile. A connection whose echo comes late skips the sends it
// missed rather than bursting.
func echoLoadRate(t *testing.T, url string, pid, conns, size, rate int, d time.Duration) (int64, cpuTimes) {
	t.Helper()
	cs := make([]*protocol.Conn, conns)
	for i := range cs {
		cs[i] = dialWS(t, url, nil)
	}
	interval := time.Duration(int64(time.Second) * int64(conns) / int64(rate))
	var total atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	before := procCPU(t, pid)
	for i, c := range cs {
		wg.Go(func() {
			// Spread the connections' sends over the interval.
			tick := time.NewTicker(interval)
			defer tick.Stop()
			select {
			case <-time.After(interval * time.Duration(i) / time.Duration(conns)):
			case <-stop:
				return
			}
			msg := make([]byte, size)
			var buf []byte
			ctx := context.Background()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				if err := c.Write(ctx, protocol.BinaryMessage, msg); err != nil {
					t.Error(err)
					return
				}
				var err error
				if _, buf, err = c.ReadInto(ctx, buf); err != nil {
					t.Error(err)
					return
				}
				total.Add(1)
			}
		})
	}
	time.Sleep(d) // the measurement's duration, not a synchronisation
	close(stop)
	wg.Wait()
	after := procCPU(t, pid)
	for _, c := range cs {
		c.CloseNow()
	}
	return total.Load(), cpuTimes{after.user - before.user, after.sys - before.sys}
}

// metricLine returns the value of an unlabelled sample in a /metrics body.
func metricLine(body, name string) string {
	for l := range strings.SplitSeq(body, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return v
		}
	}
	return "?"
}
