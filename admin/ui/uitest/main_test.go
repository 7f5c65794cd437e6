// Package uitest tests the web console end to end: the real wsd binary,
// real WebSocket clients, and the console in Debian's headless Chromium
// driven by playwright-core (console.mjs).
package uitest

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsd-dev/wsd/internal/wsdtest"
)

// wsdBin is the wsd binary TestMain builds (without -race: these tests
// exercise the console, and the daemon's races are the other tests' job).
var wsdBin string

func TestMain(m *testing.M) {
	os.Exit(wsdtest.Main(m, false, &wsdBin))
}

// startWSD runs wsd with the tag query parameter as a label.
func startWSD(t *testing.T, args ...string) *wsdtest.Process {
	t.Helper()
	return wsdtest.Start(t, wsdtest.Options{Bin: wsdBin, Args: append([]string{"--close-timeout", "2s", "--label-from-query", "tag"}, args...)})
}

// mint creates an admin token with the real `wsd token create`.
func mint(t *testing.T, w *wsdtest.Process, subject, scope string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, wsdBin, "token", "create", "--state-dir", w.StateDir, "--subject", subject, "--scope", scope, "--ttl", "10m")
	cmd.Env = wsdtest.CleanEnv()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("wsd token create: %v\n%s", err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// dial connects a WebSocket client labelled tag=tag; it is closed when the
// test ends.
func dial(t *testing.T, w *wsdtest.Process, tag string) *websocket.Conn {
	t.Helper()
	u := url.URL{Scheme: "ws", Host: w.Addr, Path: "/", RawQuery: url.Values{"tag": {tag}}.Encode()}
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	c, res, err := d.Dial(u.String(), nil)
	if err != nil {
		t.Fatalf("dial %s: %v", u.String(), err)
	}
	if err := res.Body.Close(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() }) // may be closed already: nothing to report
	return c
}
