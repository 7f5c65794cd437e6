package uitest

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestConsoleScale measures the live list with many real connections: the
// time the page takes to apply a burst of connect events, and the time to
// first render of a freshly loaded page that lists them all. The number of
// connections is WSD_CONSOLE_CONNS (default 1000); the test and wsd each
// need a file descriptor per connection.
func TestConsoleScale(t *testing.T) {
	requireBrowser(t)
	if testing.Short() {
		t.Skip("skipped with -short: opens many connections")
	}
	n := 1000
	if v := os.Getenv("WSD_CONSOLE_CONNS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("WSD_CONSOLE_CONNS=%q: want a positive number", v)
		}
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur < uint64(n)+512 {
		t.Skipf("skipped: %d connections need more file descriptors than the limit of %d (ulimit -n)", n, lim.Cur)
	}

	// Every client is on 127.0.0.1: lift the per-IP limit for this test.
	w := startWSD(t, "--max-connections-per-ip", "0", "--max-connections", strconv.Itoa(n+100))
	tok := mint(t, w, "console-scale", "admin")
	b := startBrowser(t)
	base := "http://" + w.Admin + "/ui/"
	b.do("open", map[string]any{"page": "a", "url": base})
	signIn(b, "a", tok)
	b.waitfn("a", jsCount, 0, nil)
	b.eval("a", `() => {
		const m = window.wsdConsole.metrics;
		m.eventMark = undefined; m.maxRenderMs = 0; m.renders = 0; m.missed = 0;
		window.__longest = 0;
		new PerformanceObserver(l => { for (const e of l.getEntries()) window.__longest = Math.max(window.__longest, e.duration); }).observe({ type: 'longtask' });
	}`, nil, nil)

	// The burst: n clients connect as fast as 32 dialers can.
	start := time.Now()
	conns := make([]*websocket.Conn, n)
	errs := make(chan error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			d := websocket.Dialer{HandshakeTimeout: 20 * time.Second}
			for i := range next {
				c, res, err := d.Dial("ws://"+w.Addr+"/?tag=scale", nil)
				if err != nil {
					errs <- fmt.Errorf("dial %d: %w", i, err)
					continue
				}
				if err := res.Body.Close(); err != nil {
					errs <- err
				}
				conns[i] = c
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	dialed := time.Since(start)
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				_ = c.Close() // wsd is killed next: nothing to report
			}
		}
	})
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	var burst struct {
		EventMark, LastDrawAt, MaxRenderMs, LastRenderMs, Longest float64
		Renders, Missed, Events                                   int
	}
	b.waitfn("a", jsCount, n, nil)
	b.eval("a", `() => { const m = window.wsdConsole.metrics; return { EventMark: m.eventMark, LastDrawAt: m.lastDrawAt, MaxRenderMs: m.maxRenderMs, LastRenderMs: m.lastRenderMs, Longest: window.__longest, Renders: m.renders, Missed: m.missed || 0, Events: m.events }; }`, nil, &burst)
	t.Logf("burst of %d connects: dialled in %v; the page drew all of them %.0f ms after the first event, in %d renders (longest %.1f ms, last %.1f ms, longest task %.0f ms); events missed: %d",
		n, dialed.Round(time.Millisecond), burst.LastDrawAt-burst.EventMark, burst.Renders, burst.MaxRenderMs, burst.LastRenderMs, burst.Longest, burst.Missed)

	// Sorting all of them by another column, and paging.
	b.do("click", map[string]any{"page": "a", "sel": `button.sort[data-key="id"]`})
	var sortMs float64
	b.waitfn("a", `() => document.querySelector('th[aria-sort] button[data-key="id"]') && window.wsdConsole.metrics.lastRenderMs`, nil, &sortMs)
	b.do("click", map[string]any{"page": "a", "sel": "#next-page"})
	var pageMs float64
	b.eval("a", `() => window.wsdConsole.metrics.lastRenderMs`, nil, &pageMs)
	t.Logf("with %d connections: sort by id %.1f ms, next page %.1f ms", n, sortMs, pageMs)

	// A fresh page that lists them all.
	b.do("open", map[string]any{"page": "f", "url": base})
	b.eval("f", `t => sessionStorage.setItem('wsd.console.token', t)`, tok, nil)
	b.do("reload", map[string]any{"page": "f"})
	b.waitfn("f", jsCount, n, nil)
	var first struct{ FirstRenderMs, SinceNavigation float64 }
	b.eval("f", `() => ({ FirstRenderMs: window.wsdConsole.metrics.firstRenderMs, SinceNavigation: window.wsdConsole.metrics.loadedAt })`, nil, &first)
	t.Logf("time to first render of %d connections: %.0f ms from navigation (%.0f ms of it loading the list and subscribing)", n, first.SinceNavigation, first.FirstRenderMs)

	if burst.MaxRenderMs > 2000 || first.SinceNavigation > 30000 {
		t.Errorf("the page is too slow with %d connections: a render took %.0f ms, the first render came after %.0f ms", n, burst.MaxRenderMs, first.SinceNavigation)
	}
	b.noViolations("a")
	b.noViolations("f")
}
