package interop

import (
	"encoding/json"
	"errors"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// pageTimeout bounds each step of a page visit in the driver (navigation,
// waiting for the page's result).
const pageTimeout = 20 * time.Second

func chromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// browserClient runs each scenario as a visit of the test page, in a fresh
// context of one headless Chromium that browser/driver.mjs keeps for all
// the browser's subtests. A scenario with "page": "foreign" loads the page
// from an origin that wsd does not allow.
func browserClient(pages *pageServer) client {
	d := &driver{}
	return client{
		name: "browser",
		missing: func() string {
			if m := missingNodePackage("playwright-core"); m != "" {
				return m
			}
			if _, err := os.Stat(chromiumPath()); err != nil {
				return "Debian's chromium: apt-get install --no-install-recommends chromium (or set CHROMIUM)"
			}
			return ""
		},
		setup: func(t *testing.T) {
			d.owner = t
			t.Cleanup(func() { d.stop(t) })
		},
		run: func(t *testing.T, action string, params map[string]any, during func()) observed {
			p := map[string]any{"action": action, "timeout_ms": pageTimeout.Milliseconds()}
			for k, v := range params {
				p[k] = v
			}
			b, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			host := pages.allowedHost()
			if params["page"] == "foreign" {
				host = pages.foreignHost()
			}
			return d.visit(t, "http://"+host+"/?p="+url.QueryEscape(string(b)), during)
		},
	}
}

// driver is the running browser/driver.mjs; it is restarted if a visit
// leaves it in an unknown state.
type driver struct {
	owner *testing.T // the browser's parent test, which stops the driver
	p     *proc
}

func (d *driver) stop(t testing.TB) {
	if d.p == nil {
		return
	}
	if err := d.p.stdin.Close(); err != nil {
		t.Errorf("driver stdin: %v", err)
	}
	// At the end of its input the driver closes the browser and exits.
	if !d.p.wait(10 * time.Second) {
		t.Errorf("browser driver still running 10s after its input ended")
	}
	d.p.stop(t, 3*time.Second)
	d.p = nil
}

// visit has the driver open page, calls during (if not nil) and returns
// what the page reported.
func (d *driver) visit(t *testing.T, page string, during func()) observed {
	t.Helper()
	if d.p == nil {
		d.p = startProc(d.owner, ".", true, "node", "browser/driver.mjs", strconv.FormatInt(pageTimeout.Milliseconds(), 10))
	}
	p := d.p
	n, errMark := p.out.count(), p.errOut.size()
	// Unless this visit's result line is read, the driver's state is
	// unknown (a result may still come): the next visit gets a new one.
	answered := false
	defer func() {
		if !answered {
			d.p = nil
			p.stop(t, 3*time.Second)
		}
	}()
	if _, err := p.stdin.Write([]byte(page + "\n")); err != nil {
		t.Fatalf("browser driver: %v\n%s", err, p.errOut.String())
	}
	if during != nil {
		during()
	}
	deadline := time.NewTimer(2*pageTimeout + 10*time.Second)
	defer deadline.Stop()
	for {
		if line, ok := p.out.line(n); ok {
			answered = true
			return decodeObserved(t, line, p.errOut.since(errMark), nil)
		}
		select {
		case <-p.out.notify:
		case <-p.exited:
			if line, ok := p.out.line(n); ok {
				answered = true
				return decodeObserved(t, line, p.errOut.since(errMark), nil)
			}
			t.Fatalf("browser driver exited (%v) without a result:\n%s", p.err, p.errOut.String())
		case <-deadline.C:
			t.Fatalf("browser driver gave no result within %v:\n%s", 2*pageTimeout+10*time.Second, p.errOut.since(errMark))
		}
	}
}

// pageServer serves the browser test page on loopback. The page is
// reachable as 127.0.0.1:port, the origin wsd allows, and as
// localhost:port, an origin wsd must refuse.
type pageServer struct {
	srv  *http.Server
	port string
}

func startPages(t *testing.T) *pageServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for path, file := range map[string]string{"/{$}": "index.html", "/interop.js": "interop.js"} {
		body, err := os.ReadFile(filepath.Join("browser", file))
		if err != nil {
			t.Fatal(err)
		}
		ctype := mime.TypeByExtension(filepath.Ext(file))
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", ctype)
			w.Header().Set("Cache-Control", "no-store")
			if _, err := w.Write(body); err != nil {
				t.Logf("page server: %v", err)
			}
		})
	}
	p := &pageServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	_, p.port, err = net.SplitHostPort(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.srv.Serve(ln) }()
	t.Cleanup(func() {
		if err := p.srv.Close(); err != nil {
			t.Errorf("page server: %v", err)
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("page server: %v", err)
		}
	})
	return p
}

func (p *pageServer) allowedHost() string { return "127.0.0.1:" + p.port }
func (p *pageServer) foreignHost() string { return "localhost:" + p.port }
