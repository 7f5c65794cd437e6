package main

import (
	"bytes"
	"context"
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
		getenv := func(k string) string {
			switch k {
			case "WSCTL_SERVER":
				return srv.URL
			case "WSCTL_TOKEN":
				return "x.y.z"
			}
			return ""
		}
		code := run(context.Background(), tc.args, env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: getenv})
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
