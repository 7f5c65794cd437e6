package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPartialAnswers: a fleet-wide answer that misses nodes is printed
// with a warning line naming them, exit 0, or exit 1 under --strict; a
// bulk answer gives each node's share (issue 18).
func TestPartialAnswers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/connections":
			w.Write([]byte(`{"connections":[{"id":"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","route":"/","remote_addr":"127.0.0.1:1","labels":{},"connected_at":"2026-12-07T10:00:00Z","node":"a"}],"partial":true,"missing_nodes":["b"]}`))
		case "/v1/broadcast":
			w.Write([]byte(`{"matched":3,"queued":3,"dropped":0,"nodes":{"a":{"matched":1,"queued":1,"dropped":0},"c":{"matched":2,"queued":2,"dropped":0}},"partial":true,"missing_nodes":["b"]}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	for _, tc := range []struct {
		args   []string
		code   int
		stdout []string
	}{
		{args: []string{"ls", "-o", "wide"}, code: 0, stdout: []string{"NODE", "0190a1b2"}},
		{args: []string{"ls", "--strict"}, code: 1, stdout: []string{"0190a1b2"}},
		{args: []string{"broadcast", "--all", "hello"}, code: 0, stdout: []string{"matched 3, queued 3", "node a: matched 1", "node c: matched 2"}},
		{args: []string{"broadcast", "--all", "--strict", "hello"}, code: 1, stdout: []string{"matched 3"}},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tc.args, serverEnv(srv.URL, "x.y.z", &stdout, &stderr))
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d; stderr %q", tc.args, code, tc.code, stderr.String())
		}
		if !strings.Contains(stderr.String(), "wsctl: warning: partial answer: nodes not answering: b") {
			t.Errorf("%v: stderr %q lacks the partial warning", tc.args, stderr.String())
		}
		for _, want := range tc.stdout {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("%v: stdout %q lacks %q", tc.args, stdout.String(), want)
			}
		}
	}
}

// TestNodeFlag: cordon, uncordon and drain take --node, sent as ?node=;
// an unknown node exits 3 like an unknown id, a node that does not answer
// exits 1 with the server's one line, a 409 from the other node stays a
// conflict (issues 18, 20).
func TestNodeFlag(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.RequestURI())
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Query().Get("node") {
		case "nosuch":
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":{"code":"not_found","message":"no node named nosuch"}}`))
			return
		case "dead":
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"error":{"code":"unavailable","message":"cluster: cordon: node(s) dead did not answer in time"}}`))
			return
		case "busy":
			w.WriteHeader(http.StatusConflict)
			w.Write([]byte(`{"error":{"code":"conflict","message":"a drain is running on this node"}}`))
			return
		}
		switch r.URL.Path {
		case "/v1/cordon":
			w.Write([]byte(`{"cordoned":` + map[string]string{"POST": "true", "DELETE": "false"}[r.Method] + `}`))
		case "/v1/drain":
			w.Write([]byte(`{"running":false,"cordoned":true,"selector":"","code":1012,"reason":"draining","started_at":"2026-12-07T10:00:00Z","finished_at":"2026-12-07T10:00:01Z","total":2,"closed":2}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	for _, tc := range []struct {
		args         []string
		code         int
		req, out, er string
	}{
		{args: []string{"cordon", "--node", "b"}, req: "POST /v1/cordon?node=b", out: "cordoned:"},
		{args: []string{"uncordon", "--node", "b"}, req: "DELETE /v1/cordon?node=b", out: "uncordoned"},
		{args: []string{"cordon"}, req: "POST /v1/cordon", out: "cordoned:"},
		{args: []string{"drain", "--node", "b", "--detach"}, req: "POST /v1/drain?node=b", out: "drained all: closed 2 of 2"},
		{args: []string{"drain", "--status", "--node", "b"}, req: "GET /v1/drain?node=b", out: "drained all"},
		{args: []string{"cordon", "--node", "nosuch"}, code: 3, req: "POST /v1/cordon?node=nosuch", er: "wsctl: no node named nosuch"},
		{args: []string{"drain", "--status", "--node", "nosuch"}, code: 3, req: "GET /v1/drain?node=nosuch", er: "no node named nosuch"},
		{args: []string{"uncordon", "--node", "dead"}, code: 1, req: "DELETE /v1/cordon?node=dead", er: "node(s) dead did not answer in time"},
		{args: []string{"drain", "--node", "busy"}, code: 1, req: "POST /v1/drain?node=busy", er: "wsctl: a drain is running on this node"},
	} {
		got = nil
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tc.args, serverEnv(srv.URL, "x.y.z", &stdout, &stderr))
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d; stderr %q", tc.args, code, tc.code, stderr.String())
		}
		if len(got) != 1 || got[0] != tc.req {
			t.Errorf("%v: requests %q, want %q", tc.args, got, tc.req)
		}
		if !strings.Contains(stdout.String(), tc.out) {
			t.Errorf("%v: stdout %q lacks %q", tc.args, stdout.String(), tc.out)
		}
		if !strings.Contains(stderr.String(), tc.er) {
			t.Errorf("%v: stderr %q lacks %q", tc.args, stderr.String(), tc.er)
		}
	}
}

// TestTailPartial: a fleet's tail that could not tap every node says so
// on stderr and streams what it has; --strict exits 1 once it ends.
func TestTailPartial(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/tap" || r.URL.Query().Get("selector") != "room=x" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Write([]byte(`{"type":"subscribed","size":0,"partial":true,"missing_nodes":["b"]}` + "\n" +
			`{"type":"message","at":"2026-12-07T10:00:00Z","id":"c1","direction":"in","message":"text","size":5}` + "\n" +
			`{"type":"end","size":0}` + "\n"))
	}))
	defer srv.Close()
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"tail", "-l", "room=x"}, 0},
		{[]string{"tail", "-l", "room=x", "--strict"}, 1},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tc.args, serverEnv(srv.URL, "x.y.z", &stdout, &stderr))
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d; stderr %q", tc.args, code, tc.code, stderr.String())
		}
		if !strings.Contains(stderr.String(), "wsctl: warning: partial answer: nodes not answering: b") {
			t.Errorf("%v: stderr %q lacks the warning", tc.args, stderr.String())
		}
		if !strings.Contains(stdout.String(), "  c1  in  text  5B") || !strings.Contains(stdout.String(), "the tap stream ended") {
			t.Errorf("%v: stdout %q", tc.args, stdout.String())
		}
	}
}

// serverEnv is wsctl's environment with WSCTL_SERVER and WSCTL_TOKEN set,
// no input, and its output in stdout and stderr.
func serverEnv(server, token string, stdout, stderr io.Writer) env {
	getenv := func(k string) string {
		switch k {
		case "WSCTL_SERVER":
			return server
		case "WSCTL_TOKEN":
			return token
		}
		return ""
	}
	return env{stdin: strings.NewReader(""), stdout: stdout, stderr: stderr, getenv: getenv}
}
