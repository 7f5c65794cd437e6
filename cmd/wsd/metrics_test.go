package main

import (
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/wsd-dev/wsd/protocol"
)

// scrape fetches /metrics from the admin listener and parses it with the
// Prometheus text parser.
func scrape(t *testing.T, w *wsd) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + w.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value returns the value of the sample of family name whose labels
// include want (a histogram's count), and whether there is one.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// TestMetrics scrapes /metrics during a session and after it and checks
// that the counters moved, that the label sets are bounded, and that the
// Go runtime is there.
func TestMetrics(t *testing.T) {
	w := startWSD(t, wsdOpts{args: []string{"--route", "/echo=echo", "--route", "/sink=sink", "--ping-interval", "100ms"}})
	get := func(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
		t.Helper()
		v, ok := value(fams, name, labels)
		if !ok {
			t.Fatalf("no %s%v in /metrics", name, labels)
		}
		return v
	}

	if status, _ := dialStatus(t, w.url("/nowhere"), nil); status != http.StatusNotFound {
		t.Fatalf("dial /nowhere: %d", status)
	}
	c := dialWS(t, w.url("/echo"), &protocol.DialOptions{Options: protocol.Options{YieldAfterControl: true}})
	const n, size = 5, 100
	for range n {
		if err := c.Write(testCtx(t, 5*time.Second), protocol.BinaryMessage, make([]byte, size)); err != nil {
			t.Fatal(err)
		}
		for typ := protocol.MessageType(0); typ == 0; { // 0: only a keepalive ping was read
			typ, _ = readMessage(t, c)
		}
	}
	// A keepalive round trip (a ping every 100 ms): the client answers it
	// in a read that returns once control frames are handled.
	for typ := protocol.MessageType(1); typ != 0; {
		typ, _ = readMessage(t, c)
	}
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	var during map[string]*dto.MetricFamily
	deadline := time.Now().Add(10 * time.Second)
	for ; ; <-poll.C {
		during = scrape(t, w)
		if v, _ := value(during, "wsd_ping_rtt_seconds", nil); v > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no ping round trip observed")
		}
	}
	for _, m := range []struct {
		name   string
		labels map[string]string
		min    float64
	}{
		{"wsd_connections", map[string]string{"route": "/echo"}, 1},
		{"wsd_handshakes_total", nil, 1},
		{"wsd_handshake_failures_total", map[string]string{"reason": "no_route"}, 1},
		{"wsd_handshake_duration_seconds", nil, 1},
		{"wsd_messages_total", map[string]string{"direction": "in"}, n},
		{"wsd_messages_total", map[string]string{"direction": "out"}, n},
		{"wsd_message_bytes_total", map[string]string{"direction": "in"}, n * size},
		{"wsd_message_bytes_total", map[string]string{"direction": "out"}, n * size},
		{"wsd_store_written_records_total", nil, 0},
		{"wsd_store_queue_depth", nil, 0},
		{"wsd_store_commit_duration_seconds", nil, 0},
		{"go_goroutines", nil, 1},
		{"process_resident_memory_bytes", nil, 1},
		{"wsd_build_info", nil, 1},
	} {
		if v := get(during, m.name, m.labels); v < m.min {
			t.Errorf("during the session: %s%v = %v, want at least %v", m.name, m.labels, v, m.min)
		}
	}
	if v := get(during, "wsd_connections", map[string]string{"route": "/sink"}); v != 0 {
		t.Errorf("wsd_connections{route=/sink} = %v", v)
	}

	if err := c.Close(4000, "done"); err != nil {
		t.Fatal(err)
	}
	id := waitSessions(t, w.StateDir, "the session closed", func(ss []sessionRow) bool { return len(ss) == 1 && ss[0].Closed })[0].ID
	var after map[string]*dto.MetricFamily
	deadline = time.Now().Add(10 * time.Second)
	for ; ; <-poll.C {
		after = scrape(t, w)
		if v, _ := value(after, "wsd_closes_total", map[string]string{"code": "4xxx", "closed_by": "client"}); v == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the close was never counted")
		}
	}
	if v := get(after, "wsd_connections", map[string]string{"route": "/echo"}); v != 0 {
		t.Errorf("after close: wsd_connections{route=/echo} = %v", v)
	}
	// Counters of a closed connection stay in the totals.
	for _, dir := range []string{"in", "out"} {
		before := get(during, "wsd_messages_total", map[string]string{"direction": dir})
		if v := get(after, "wsd_messages_total", map[string]string{"direction": dir}); v < before {
			t.Errorf("wsd_messages_total{direction=%s} went from %v to %v", dir, before, v)
		}
	}
	if v := get(after, "wsd_store_written_records_total", nil); v < 1 {
		t.Errorf("wsd_store_written_records_total = %v", v)
	}
	// Bounded labels: no connection id, address or user anywhere.
	for name, f := range after {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if v := l.GetValue(); v == id || strings.Contains(v, "127.0.0.1") {
					t.Errorf("%s has a suspicious label %s=%q", name, l.GetName(), l.GetValue())
				}
			}
		}
	}
}

// TestDashboardMetrics: every metric the Grafana dashboard queries exists in
// /metrics, so the dashboard does not silently show "no data".
func TestDashboardMetrics(t *testing.T) {
	b, err := os.ReadFile("../../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	w := startWSD(t, wsdOpts{})
	fams := scrape(t, w)
	name := regexp.MustCompile(`\b(?:wsd|go|process)_[a-z_]+\b`)
	n := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, m := range name.FindAllString(tg.Expr, -1) {
				n++
				fam := m
				for _, suffix := range []string{"_bucket", "_count", "_sum"} {
					if base, ok := strings.CutSuffix(m, suffix); ok && fams[base] != nil {
						fam = base
					}
				}
				if fams[fam] == nil {
					t.Errorf("panel %q queries %s, which /metrics does not have", p.Title, m)
				}
			}
		}
	}
	if n < 30 {
		t.Fatalf("only %d metric references found in the dashboard", n)
	}
}
