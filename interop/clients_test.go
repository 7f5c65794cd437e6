package interop

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// observed is what a client saw in one scenario, as its script reports it.
type observed struct {
	Library     string `json:"library"`
	OK          bool   `json:"ok"`
	Error       string `json:"error"`
	Extensions  string `json:"extensions"` // the Sec-WebSocket-Extensions answer
	Protocol    string `json:"protocol"`
	CloseCode   int    `json:"close_code"` // from the close frame the client received
	CloseReason string `json:"close_reason"`
	WasClean    bool   `json:"was_clean"`
	CloseMS     *int   `json:"close_ms"` // closing handshake started by the client: close() to closed
	Status      int    `json:"status"`   // 101 once open
	BadStatus   int    `json:"bad_status"`
	GoodStatus  int    `json:"good_status"`
	Messages    int    `json:"messages"` // messages (or pongs) checked
	Pings       *int   `json:"pings"`    // pings received from wsd (-1: not observable)
	Opened      bool   `json:"opened"`   // browser only
}

// client is one WebSocket client of the matrix.
type client struct {
	name string
	// missing says what is missing to run the client, or "".
	missing func() string
	// setup, if set, prepares the client for its subtests (on their
	// parent test, which owns what it starts).
	setup func(t *testing.T)
	// run runs one action with its parameters and returns what the client
	// saw; it fails the test if the client did not report. during, if not
	// nil, is called while the client runs.
	run func(t *testing.T, action string, params map[string]any, during func()) observed
}

const (
	debianPython  = "/usr/bin/python3" // sees Debian's python3-websockets; the python3 on PATH may not
	scriptTimeout = 40 * time.Second
)

// inCI reports whether the tests run in CI, where a missing client fails
// its subtests instead of skipping them.
func inCI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "false" && v != "0"
}

func missingNodePackage(pkg string) string {
	if _, err := exec.LookPath("node"); err != nil {
		return "Node.js (node on PATH)"
	}
	if _, err := os.Stat("node/node_modules/" + pkg + "/package.json"); err != nil {
		return "the npm package " + pkg + ": run `npm ci` in interop/node"
	}
	return ""
}

func nodeClient() client {
	return client{
		name:    "node",
		missing: func() string { return missingNodePackage("ws") },
		run: func(t *testing.T, action string, params map[string]any, during func()) observed {
			return runScript(t, "node", "node/client.mjs", action, params, during)
		},
	}
}

func pythonClient() client {
	return client{
		name: "python",
		missing: func() string {
			if _, err := os.Stat(debianPython); err != nil {
				return "Debian's python3 (" + debianPython + ")"
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if out, err := exec.CommandContext(ctx, debianPython, "-c", "import websockets").CombinedOutput(); err != nil {
				return "Debian's python3-websockets: apt-get install python3-websockets (" + strings.TrimSpace(string(out)) + ")"
			}
			return ""
		},
		run: func(t *testing.T, action string, params map[string]any, during func()) observed {
			return runScript(t, debianPython, "python/client.py", action, params, during)
		},
	}
}

// runScript runs a client script for one action, bounded by scriptTimeout.
func runScript(t *testing.T, interp, script, action string, params map[string]any, during func()) observed {
	t.Helper()
	b, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	p := startProc(t, ".", false, interp, script, action, string(b))
	defer p.stop(t, 3*time.Second) // also when during fails the test
	if during != nil {
		during()
	}
	if !p.wait(scriptTimeout) {
		p.stop(t, 3*time.Second)
		t.Fatalf("%s still running after %v\nstdout:\n%s\nstderr:\n%s", script, scriptTimeout, p.out.String(), p.errOut.String())
	}
	return decodeObserved(t, p.out.String(), p.errOut.String(), p.err)
}

// decodeObserved reads the result from the last line of a client's output.
func decodeObserved(t *testing.T, stdout, stderr string, runErr error) observed {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var o observed
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &o); err != nil {
		t.Fatalf("client gave no result (%v, exit: %v)\nstdout:\n%s\nstderr:\n%s", err, runErr, stdout, stderr)
	}
	if runErr != nil {
		t.Errorf("client exited with %v\nstderr:\n%s", runErr, stderr)
	}
	if !o.OK {
		t.Fatalf("%s failed: %s\nstderr:\n%s", o.Library, o.Error, stderr)
	}
	if o.Error != "" {
		t.Logf("%s reported, besides success: %s", o.Library, o.Error)
	}
	return o
}
