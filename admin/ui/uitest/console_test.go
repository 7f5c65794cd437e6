package uitest

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// JavaScript run in the page.
const (
	jsCount      = `n => { const el = document.querySelector('#conn-count'); return el && el.dataset.n === String(n) && document.querySelector('#live-state').textContent === 'live'; }`
	jsRowTags    = `() => Array.from(document.querySelectorAll('#conn-rows tr[data-id]'), tr => tr.textContent.match(/tag=([a-z]+)/)[1]).sort()`
	jsRowIDByTag = `tag => { const tr = Array.from(document.querySelectorAll('#conn-rows tr[data-id]')).find(tr => tr.textContent.includes('tag=' + tag)); return tr ? tr.dataset.id : ''; }`
	jsLegend     = `([chart, want]) => { const got = {}; for (const li of document.querySelectorAll('#' + chart + ' li[data-series]')) got[li.dataset.series] = Number(li.dataset.total); return JSON.stringify(got) === JSON.stringify(want) ? got : null; }`
)

// signIn pastes tok into the sign-in form of page.
func signIn(b *browser, page, tok string) {
	b.t.Helper()
	b.do("wait", map[string]any{"page": page, "sel": "#token"})
	b.do("fill", map[string]any{"page": page, "sel": "#token", "value": tok})
	b.do("click", map[string]any{"page": page, "sel": "#signin"})
}

func goTo(b *browser, page, hash string) {
	b.t.Helper()
	b.eval(page, `h => { location.hash = h; }`, hash, nil)
}

// readClose reads from c until it ends and returns its close error.
func readClose(t *testing.T, c *websocket.Conn) *websocket.CloseError {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(15 * time.Second)); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		_, _, err := c.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce
		}
		if err != nil {
			t.Fatalf("read: %v, want a close", err)
		}
	}
	t.Fatal("no close after 100 messages")
	return nil
}

func TestConsole(t *testing.T) {
	requireBrowser(t)
	w := startWSD(t)
	adminTok := mint(t, w, "console-admin", "admin")
	readOnly := mint(t, w, "console-ro", "connections:read,sessions:read")
	historyOnly := mint(t, w, "console-history", "sessions:read")
	b := startBrowser(t)
	base := "http://" + w.Admin + "/ui/"
	shots := os.Getenv("WSD_CONSOLE_SCREENSHOTS") // a directory (docs/) to write screenshots into
	shot := func(page, name string, full bool) {
		if shots == "" {
			return
		}
		b.do("screenshot", map[string]any{"page": page, "path": filepath.Join(shots, "console-"+name+".png"), "full": full})
	}

	// A token that is not one, and a token whose signature is wrong, are
	// refused with a clear message.
	b.do("open", map[string]any{"page": "a", "url": base})
	shot("a", "signin", false)
	signIn(b, "a", "not a token")
	if got := b.text("a", "#signin-status"); !strings.Contains(got, "not a token") {
		t.Errorf("sign-in with junk says %q", got)
	}
	signIn(b, "a", adminTok[:len(adminTok)-4]+"AAAA")
	b.waitfn("a", `() => document.querySelector('#signin-status .notice')?.textContent`, nil, nil)
	if got := b.text("a", "#signin-status"); !strings.Contains(got, "Token refused") {
		t.Errorf("sign-in with a forged token says %q", got)
	}

	// Sign in; clients connect and appear without a reload.
	signIn(b, "a", adminTok)
	b.waitfn("a", jsCount, 0, nil)
	var inURL bool
	b.eval("a", `t => location.href.includes(t) || document.cookie.includes(t)`, adminTok, &inURL)
	if inURL {
		t.Error("the token is in the URL or a cookie")
	}
	conns := map[string]*websocket.Conn{}
	for _, tag := range []string{"alpha", "beta", "gamma"} {
		conns[tag] = dial(t, w, tag)
	}
	b.waitfn("a", jsCount, 3, nil)
	var tags []string
	b.eval("a", jsRowTags, nil, &tags)
	if strings.Join(tags, ",") != "alpha,beta,gamma" {
		t.Errorf("rows: %v, want alpha, beta, gamma", tags)
	}
	shot("a", "connections", false)

	// The selector filter.
	b.do("fill", map[string]any{"page": "a", "sel": "#selector", "value": "tag=beta"})
	b.do("click", map[string]any{"page": "a", "sel": "#apply-selector"})
	b.waitfn("a", jsCount, 1, nil)
	b.eval("a", jsRowTags, nil, &tags)
	if strings.Join(tags, ",") != "beta" {
		t.Errorf("rows with tag=beta: %v", tags)
	}
	b.do("fill", map[string]any{"page": "a", "sel": "#selector", "value": ""})
	b.do("click", map[string]any{"page": "a", "sel": "#apply-selector"})
	b.waitfn("a", jsCount, 3, nil)

	// Sorting by a column puts the rows in its order.
	b.do("click", map[string]any{"page": "a", "sel": `button.sort[data-key="labels"]`})
	b.waitfn("a", `() => document.querySelector('th[aria-sort] button[data-key="labels"]')`, nil, nil)
	var sorted []string
	b.eval("a", `() => Array.from(document.querySelectorAll('#conn-rows tr[data-id]'), tr => tr.textContent.match(/tag=([a-z]+)/)[1])`, nil, &sorted)
	if strings.Join(sorted, ",") != "alpha,beta,gamma" {
		t.Errorf("sorted by labels: %v", sorted)
	}

	// A connection's page: send to it, then close it with a code.
	var betaID string
	b.eval("a", jsRowIDByTag, "beta", &betaID)
	if betaID == "" {
		t.Fatal("no row for beta")
	}
	b.do("click", map[string]any{"page": "a", "sel": `#conn-rows tr[data-id="` + betaID + `"] a`})
	b.waitfn("a", `() => document.querySelector('#conn-status')?.textContent === 'live'`, nil, nil)
	b.do("fill", map[string]any{"page": "a", "sel": "#send-text", "value": "hello from the console"})
	b.do("click", map[string]any{"page": "a", "sel": "#send"})
	if err := conns["beta"].SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := conns["beta"].ReadMessage(); err != nil || string(msg) != "hello from the console" {
		t.Fatalf("beta read %q, %v; want the console's message", msg, err)
	}
	b.waitfn("a", `() => document.querySelector('#send-msg')?.textContent.includes('Queued')`, nil, nil)
	b.do("fill", map[string]any{"page": "a", "sel": "#kill-code", "value": "4001"})
	b.do("fill", map[string]any{"page": "a", "sel": "#kill-reason", "value": "bye from the console"})
	b.do("click", map[string]any{"page": "a", "sel": "#kill"})
	b.do("wait", map[string]any{"page": "a", "sel": "#kill-yes"})
	shot("a", "connection", true)
	b.do("click", map[string]any{"page": "a", "sel": "#kill-yes"})
	if ce := readClose(t, conns["beta"]); ce.Code != 4001 || ce.Text != "bye from the console" {
		t.Errorf("beta closed with %d %q, want 4001 and the reason", ce.Code, ce.Text)
	}
	b.waitfn("a", `() => document.querySelector('#kill-msg')?.textContent.includes('Closed with code 4001')`, nil, nil)
	// Once closed, the page shows the session from history.
	b.waitfn("a", `() => document.querySelector('#session') && document.querySelector('#conn-status').textContent === 'closed'`, nil, nil)
	if got := b.text("a", "#session"); !strings.Contains(got, "admin") || !strings.Contains(got, "4001") {
		t.Errorf("closed connection's page: %q", got)
	}

	// alpha closes itself with 4000.
	if err := conns["alpha"].WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4000, "done"), time.Now().Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	readClose(t, conns["alpha"])
	goTo(b, "a", "#/connections")
	b.waitfn("a", jsCount, 1, nil)

	// History: the closed_by filter, then the charts' counts.
	goTo(b, "a", "#/history")
	b.do("select", map[string]any{"page": "a", "sel": "#f-closed_by", "value": "admin"})
	b.do("click", map[string]any{"page": "a", "sel": "#hist-apply"})
	b.waitfn("a", `() => { const rows = document.querySelectorAll('#hist-rows tr[data-id]'); return rows.length === 1 && rows[0].dataset.closedBy === 'admin' && rows[0].dataset.code === '4001'; }`, nil, nil)
	b.waitfn("a", jsLegend, []any{"chart-closed-by", map[string]int{"admin": 1, "client": 1}}, nil)
	b.waitfn("a", jsLegend, []any{"chart-code", map[string]int{"4000": 1, "4001": 1}}, nil)
	var bars int
	b.eval("a", `() => document.querySelectorAll('#chart-closed-by rect[data-series]').length`, nil, &bars)
	if bars < 1 || bars > 2 {
		t.Errorf("closed_by chart has %d bars, want 1 or 2", bars)
	}
	// CSV export of the filtered history.
	b.do("click", map[string]any{"page": "a", "sel": "#export"})
	var csv string
	b.waitfn("a", `() => window.wsdConsole.metrics.lastCSV`, nil, &csv)
	lines := strings.Split(strings.TrimSpace(csv), "\r\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "id,route,") || !strings.HasPrefix(lines[1], betaID+",") || !strings.Contains(lines[1], ",4001,bye from the console,admin,") {
		t.Errorf("CSV export:\n%s", csv)
	}
	b.do("select", map[string]any{"page": "a", "sel": "#f-closed_by", "value": ""})
	b.do("click", map[string]any{"page": "a", "sel": "#hist-apply"})
	b.waitfn("a", `() => document.querySelectorAll('#hist-rows tr[data-id]').length === 3`, nil, nil)
	shot("a", "history", true)

	// Stats.
	goTo(b, "a", "#/stats")
	b.waitfn("a", `() => document.querySelector('#stat-connections .tile-value')?.textContent === '1'`, nil, nil)
	shot("a", "stats", true)

	// A phone-sized screen.
	b.do("viewport", map[string]any{"page": "a", "width": 390, "height": 844})
	goTo(b, "a", "#/connections")
	b.waitfn("a", jsCount, 1, nil)
	var overflow bool
	b.eval("a", `() => document.documentElement.scrollWidth > window.innerWidth + 1`, nil, &overflow)
	if overflow {
		t.Error("the connections page is wider than a phone screen")
	}
	shot("a", "phone", false)
	b.noViolations("a")

	// A read-only token cannot close or send: the buttons are disabled and
	// say why.
	b.do("open", map[string]any{"page": "ro", "url": base})
	signIn(b, "ro", readOnly)
	b.waitfn("ro", jsCount, 1, nil)
	var gammaID string
	b.eval("ro", jsRowIDByTag, "gamma", &gammaID)
	goTo(b, "ro", "#/connection/"+gammaID)
	b.waitfn("ro", `() => document.querySelector('#conn-status')?.textContent === 'live'`, nil, nil)
	var disabled []bool
	b.eval("ro", `() => ['#kill', '#send', '#kill-code'].map(s => document.querySelector(s).disabled)`, nil, &disabled)
	if len(disabled) != 3 || !disabled[0] || !disabled[1] || !disabled[2] {
		t.Errorf("read-only token: kill, send, code disabled = %v", disabled)
	}
	if got := b.text("ro", "section.page"); !strings.Contains(got, "lacks the scope connections:close") {
		t.Errorf("read-only page does not say why it cannot close: %q", got)
	}
	// Forcing the button does not help: wsd refuses and the page says so.
	b.eval("ro", `() => { document.querySelector('#kill').disabled = false; document.querySelector('#kill').click(); document.querySelector('#kill-yes').click(); }`, nil, nil)
	b.waitfn("ro", `() => document.querySelector('#kill-msg .notice.error')?.textContent`, nil, nil)
	if got := b.text("ro", "#kill-msg"); !strings.Contains(got, "Not allowed") || !strings.Contains(got, "connections:close") {
		t.Errorf("forced close with a read-only token says %q", got)
	}
	if err := conns["gamma"].SetReadDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	var ne net.Error
	if _, _, err := conns["gamma"].ReadMessage(); !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("gamma after a refused close: %v, want it still open", err)
	}
	b.noViolations("ro")

	// A token without connections:read is told what it lacks.
	b.do("open", map[string]any{"page": "h", "url": base})
	signIn(b, "h", historyOnly)
	b.waitfn("h", `() => document.querySelector('#conn-msg .notice.error')?.textContent.includes('lacks the scope connections:read')`, nil, nil)
	goTo(b, "h", "#/history")
	b.waitfn("h", `() => document.querySelectorAll('#hist-rows tr[data-id]').length === 3`, nil, nil)

	// Signing out forgets the token.
	b.do("click", map[string]any{"page": "h", "sel": "#signout"})
	b.do("wait", map[string]any{"page": "h", "sel": "#token"})
	var stored string
	b.eval("h", `() => sessionStorage.getItem('wsd.console.token') || ''`, nil, &stored)
	if stored != "" {
		t.Error("the token is still in sessionStorage after signing out")
	}
	b.noViolations("h")

	// The collector of violations does see one: an inline script, which
	// the CSP blocks.
	b.eval("h", `() => { const s = document.createElement('script'); s.textContent = 'window.inlineRan = true'; document.body.append(s); }`, nil, nil)
	var r struct{ CSP []string }
	if err := json.Unmarshal(b.do("report", map[string]any{"page": "h"}), &r); err != nil {
		t.Fatal(err)
	}
	var ran bool
	b.eval("h", `() => window.inlineRan === true`, nil, &ran)
	if len(r.CSP) == 0 || ran {
		t.Errorf("an inline script ran (%v) or was not reported (%q): the CSP or its collector does not work", ran, r.CSP)
	}
}
