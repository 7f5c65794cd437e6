package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The real-Jaeger harness: Jaeger all-in-one (v2, an OpenTelemetry
// collector build) from tools/jaeger, started with tools/jaeger/config.yaml
// (OTLP gRPC and HTTP receivers, a batch processor with a short timeout,
// in-memory storage, the query API and a health check) on free loopback
// ports.

// jaegerBinary returns the Jaeger binary: $WSD_JAEGER_BIN (which .ci/run
// sets), else the cache path of tools/jaeger/build.sh. In CI a missing
// binary fails the test; elsewhere build.sh builds it now.
func jaegerBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("WSD_JAEGER_BIN"); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("WSD_JAEGER_BIN=%s: %v (tools/jaeger/build.sh builds it)", bin, err)
		}
		return bin
	}
	if v := os.Getenv("CI"); v != "" && v != "false" && v != "0" {
		t.Fatal("WSD_JAEGER_BIN is not set: in CI, .ci/run builds Jaeger with tools/jaeger/build.sh and exports its path")
	}
	t.Log("WSD_JAEGER_BIN not set: using tools/jaeger/build.sh (it builds Jaeger the first time, about five minutes)")
	out, err := exec.Command("../../tools/jaeger/build.sh").Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("building Jaeger: %v\n%s\nbuild it with tools/jaeger/build.sh and set WSD_JAEGER_BIN to its output", err, stderr)
	}
	return strings.TrimSpace(string(out))
}

// jaeger is a running Jaeger.
type jaeger struct {
	otlpGRPC, otlpHTTP string // host:port of the OTLP receivers
	query              string // base URL of the query API
	pid                int
	log                *syncBuffer
}

// freePorts returns n loopback ports free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// startJaeger starts Jaeger and waits until it is healthy. A port taken
// between choosing it and Jaeger binding it makes Jaeger exit: then it is
// tried again with other ports.
func startJaeger(t *testing.T) *jaeger {
	t.Helper()
	bin := jaegerBinary(t)
	cfg, err := filepath.Abs("../../tools/jaeger/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var lastErr error
	for attempt := range 3 {
		p := freePorts(t, 5)
		addr := func(i int) string { return fmt.Sprintf("127.0.0.1:%d", p[i]) }
		j := &jaeger{otlpGRPC: addr(3), otlpHTTP: addr(4), query: "http://" + addr(1), log: &syncBuffer{}}
		cmd := exec.Command(bin, "--config", cfg)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "JAEGER_HEALTH_ADDR="+addr(0), "JAEGER_QUERY_HTTP_ADDR="+addr(1),
			"JAEGER_QUERY_GRPC_ADDR="+addr(2), "JAEGER_OTLP_GRPC_ADDR="+addr(3), "JAEGER_OTLP_HTTP_ADDR="+addr(4))
		cmd.Stdout, cmd.Stderr = j.log, j.log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		health := "http://" + addr(0) + "/status"
		j.pid = cmd.Process.Pid
		if lastErr = waitHealthy(health, exited, 60*time.Second); lastErr == nil {
			t.Cleanup(func() {
				cmd.Process.Kill()
				<-exited
				if t.Failed() {
					t.Logf("jaeger log:\n%s", j.log.String())
				}
			})
			return j
		}
		cmd.Process.Kill()
		<-exited
		t.Logf("jaeger attempt %d: %v\n%s", attempt, lastErr, j.log.String())
	}
	t.Fatalf("jaeger did not start: %v", lastErr)
	return nil
}

// waitHealthy polls the health check until it answers 200, the process
// exits or the timeout passes.
func waitHealthy(url string, exited <-chan error, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("jaeger exited: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("not healthy within %v", timeout)
}

// syncBuffer is a bytes.Buffer safe for the process's output goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Jaeger's query API (/api/traces), the parts the tests read.
type jTrace struct {
	TraceID string  `json:"traceID"`
	Spans   []jSpan `json:"spans"`
}

type jSpan struct {
	TraceID       string `json:"traceID"`
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	References    []struct {
		RefType string `json:"refType"`
		TraceID string `json:"traceID"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
	Tags []jKV `json:"tags"`
	Logs []struct {
		Fields []jKV `json:"fields"`
	} `json:"logs"`
}

type jKV struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
}

func tagMap(kvs []jKV) map[string]any {
	m := map[string]any{}
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

func (s jSpan) tag(k string) any { return tagMap(s.Tags)[k] }

func (tr jTrace) spans(name string) []jSpan {
	var out []jSpan
	for _, s := range tr.Spans {
		if s.OperationName == name {
			out = append(out, s)
		}
	}
	return out
}

// traces returns the traces of service wsd with a span tagged with the
// connection id.
func (j *jaeger) traces(t *testing.T, connID string) []jTrace {
	t.Helper()
	tags, _ := json.Marshal(map[string]string{"ws.connection.id": connID})
	return j.get(t, "/api/traces?service=wsd&lookback=1h&limit=20&tags="+url.QueryEscape(string(tags)))
}

// get asks the query API for traces; none when it answers 404.
func (j *jaeger) get(t *testing.T, path string) []jTrace {
	t.Helper()
	resp, err := http.Get(j.query + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusNotFound {
		return nil // no such service or trace yet
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	var out struct {
		Data []jTrace `json:"data"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return out.Data
}

// waitTrace polls Jaeger until the session trace of connID (the one with
// its upgrade span; admin calls about the connection are tagged with its id
// too) satisfies ok: spans arrive in batches, so a trace grows.
func (j *jaeger) waitTrace(t *testing.T, connID, what string, ok func(jTrace) bool) jTrace {
	t.Helper()
	var last []jTrace
	return j.poll(t, what+" for "+connID, func() (jTrace, bool) {
		last = j.traces(t, connID)
		var sessions []jTrace
		for _, tr := range last {
			if len(tr.spans("websocket.upgrade")) > 0 {
				sessions = append(sessions, tr)
			}
		}
		if len(sessions) > 1 {
			t.Fatalf("connection %s has %d session traces, want one", connID, len(sessions))
		}
		return firstOr(sessions), len(sessions) == 1 && ok(sessions[0])
	}, func() any { return last })
}

// waitTraceID polls Jaeger until the trace with that id satisfies ok.
func (j *jaeger) waitTraceID(t *testing.T, traceID, what string, ok func(jTrace) bool) jTrace {
	t.Helper()
	var last []jTrace
	return j.poll(t, what, func() (jTrace, bool) {
		last = j.get(t, "/api/traces/"+traceID)
		return firstOr(last), len(last) == 1 && ok(last[0])
	}, func() any { return last })
}

// poll calls try every 100 ms until it reports success, for at most 30
// seconds (polling Jaeger's API, not a synchronisation).
func (j *jaeger) poll(t *testing.T, what string, try func() (jTrace, bool), last func() any) jTrace {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if tr, ok := try(); ok {
			return tr
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(last(), "", " ")
			t.Fatalf("jaeger never showed %s; last answer:\n%s", what, b)
		}
		<-tick.C
	}
}

func firstOr(trs []jTrace) jTrace {
	if len(trs) == 0 {
		return jTrace{}
	}
	return trs[0]
}

// refs returns the span ids s refers to with that type (CHILD_OF: its
// parent; FOLLOWS_FROM: its links).
func (s jSpan) refs(refType string) []string {
	var out []string
	for _, r := range s.References {
		if r.RefType == refType {
			out = append(out, r.SpanID)
		}
	}
	return out
}
