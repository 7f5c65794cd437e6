package uitest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// stepTimeout bounds each browser step (navigation, a wait for the page).
const stepTimeout = 20 * time.Second

const nodeDir = "../../../interop/node" // playwright-core, installed by `npm ci` there

func chromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// inCI reports whether the tests run in CI, where a missing browser fails
// the test instead of skipping it.
func inCI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "false" && v != "0"
}

// missing says what the browser tests lack, or "".
func missing() string {
	if _, err := exec.LookPath("node"); err != nil {
		return "Node.js (node on PATH)"
	}
	if _, err := os.Stat(filepath.Join(nodeDir, "node_modules/playwright-core/package.json")); err != nil {
		return "the npm package playwright-core: run `npm ci` in interop/node"
	}
	if _, err := os.Stat(chromiumPath()); err != nil {
		return "Debian's chromium: apt-get install --no-install-recommends chromium (or set CHROMIUM)"
	}
	return ""
}

func requireBrowser(t *testing.T) {
	t.Helper()
	if m := missing(); m != "" {
		if inCI() {
			t.Fatalf("the console's browser tests need %s", m)
		}
		t.Skipf("skipped: the console's browser tests need %s", m)
	}
}

// browser is a running console.mjs: one headless Chromium, driven one
// command at a time.
type browser struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string   // stdout, one answer a line; closed at exit
	done  chan struct{} // closed once the process has exited

	mu     sync.Mutex
	stderr strings.Builder
}

type lockedWriter struct{ b *browser }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.b.mu.Lock()
	defer w.b.mu.Unlock()
	return w.b.stderr.Write(p)
}

func startBrowser(t *testing.T) *browser {
	t.Helper()
	b := &browser{t: t, lines: make(chan string, 1), done: make(chan struct{})}
	b.cmd = exec.Command("node", "console.mjs", strconv.FormatInt(stepTimeout.Milliseconds(), 10))
	b.cmd.Stderr = lockedWriter{b}
	var err error
	if b.stdin, err = b.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := b.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("node console.mjs: %v", err)
	}
	go func() {
		defer close(b.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			b.lines <- sc.Text()
		}
		close(b.lines)
		if err := b.cmd.Wait(); err != nil {
			fmt.Fprintf(lockedWriter{b}, "driver exit: %v\n", err)
		}
	}()
	t.Cleanup(func() {
		if err := b.stdin.Close(); err != nil {
			t.Errorf("driver stdin: %v", err)
		}
		// At the end of its input the driver closes the browser and exits.
		timer := time.NewTimer(15 * time.Second)
		defer timer.Stop()
		for {
			select {
			case _, ok := <-b.lines:
				if ok {
					continue
				}
				<-b.done
			case <-timer.C:
				t.Errorf("browser driver still running 15s after its input ended; killing it")
				if err := b.cmd.Process.Kill(); err != nil {
					t.Errorf("kill driver: %v", err)
				}
				for range b.lines {
				}
				<-b.done
			}
			break
		}
		if t.Failed() {
			t.Logf("browser driver stderr:\n%s", b.log())
		}
	})
	return b
}

func (b *browser) log() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stderr.String()
}

// try runs one command and returns its value, or its error.
func (b *browser) try(op string, args map[string]any) (json.RawMessage, error) {
	b.t.Helper()
	cmd := map[string]any{"op": op}
	for k, v := range args {
		cmd[k] = v
	}
	line, err := json.Marshal(cmd)
	if err != nil {
		b.t.Fatal(err)
	}
	if _, err := b.stdin.Write(append(line, '\n')); err != nil {
		b.t.Fatalf("browser driver: %v\n%s", err, b.log())
	}
	timer := time.NewTimer(2*stepTimeout + 10*time.Second)
	defer timer.Stop()
	select {
	case ans, ok := <-b.lines:
		if !ok {
			b.t.Fatalf("browser driver exited during %s:\n%s", op, b.log())
		}
		var out struct {
			OK    bool            `json:"ok"`
			Value json.RawMessage `json:"value"`
			Error string          `json:"error"`
		}
		if err := json.Unmarshal([]byte(ans), &out); err != nil {
			b.t.Fatalf("browser driver answered %q: %v", ans, err)
		}
		if !out.OK {
			return nil, fmt.Errorf("%s %s: %s", op, line, out.Error)
		}
		return out.Value, nil
	case <-timer.C:
		b.t.Fatalf("browser driver gave no answer to %s within %v:\n%s", line, 2*stepTimeout+10*time.Second, b.log())
		return nil, nil
	}
}

// do runs one command and fails the test if it fails.
func (b *browser) do(op string, args map[string]any) json.RawMessage {
	b.t.Helper()
	v, err := b.try(op, args)
	if err != nil {
		b.t.Fatal(err)
	}
	return v
}

// waitfn polls fn (JavaScript: a function of arg) in page until it returns
// something truthy, and decodes that into out (if not nil).
func (b *browser) waitfn(page, fn string, arg any, out any) {
	b.t.Helper()
	v := b.do("waitfn", map[string]any{"page": page, "fn": fn, "arg": arg})
	if out != nil {
		if err := json.Unmarshal(v, out); err != nil {
			b.t.Fatalf("waitfn %s: %v", fn, err)
		}
	}
}

// eval runs fn(arg) in page and decodes its value into out (if not nil).
func (b *browser) eval(page, fn string, arg any, out any) {
	b.t.Helper()
	v := b.do("eval", map[string]any{"page": page, "fn": fn, "arg": arg})
	if out != nil {
		if err := json.Unmarshal(v, out); err != nil {
			b.t.Fatalf("eval %s: %v", fn, err)
		}
	}
}

func (b *browser) text(page, sel string) string {
	b.t.Helper()
	var s string
	if err := json.Unmarshal(b.do("text", map[string]any{"page": page, "sel": sel}), &s); err != nil {
		b.t.Fatal(err)
	}
	return s
}

// shot writes a screenshot of page to console-NAME.png in the directory
// WSD_CONSOLE_SCREENSHOTS names (docs/), when it is set.
func (b *browser) shot(page, name string, full bool) {
	b.t.Helper()
	dir := os.Getenv("WSD_CONSOLE_SCREENSHOTS")
	if dir == "" {
		return
	}
	b.do("screenshot", map[string]any{"page": page, "path": filepath.Join(dir, "console-"+name+".png"), "full": full})
}

// noViolations fails the test if page logged a CSP violation or an error.
func (b *browser) noViolations(page string) {
	b.t.Helper()
	var r struct{ CSP, Errors []string }
	if err := json.Unmarshal(b.do("report", map[string]any{"page": page}), &r); err != nil {
		b.t.Fatal(err)
	}
	if len(r.CSP) > 0 {
		b.t.Errorf("page %s: CSP violations:\n%s", page, strings.Join(r.CSP, "\n"))
	}
	if len(r.Errors) > 0 {
		b.t.Errorf("page %s: errors:\n%s", page, strings.Join(r.Errors, "\n"))
	}
}
