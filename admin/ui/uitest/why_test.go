package uitest

import (
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestWhyView: the why view on a connection's page, for a live connection
// (reached from the live list), a connection an operator closed with a
// reason (reached from the history list: the cause and the subject who
// closed it), and one that broke a limit (the limit with its value and the
// black box).
func TestWhyView(t *testing.T) {
	requireBrowser(t)
	w := startWSD(t, "--max-message-size", "1024")
	tok := mint(t, w, "ops-alice", "admin")
	conns := map[string]*websocket.Conn{}
	for _, tag := range []string{"live", "victim", "big"} {
		conns[tag] = dial(t, w, tag)
	}
	// live has sent a message: its last activity is known.
	if err := conns["live"].WriteMessage(websocket.TextMessage, []byte("hello")); err != nil {
		t.Fatal(err)
	}

	b := startBrowser(t)
	b.do("open", map[string]any{"page": "a", "url": "http://" + w.Admin + "/ui/"})
	signIn(b, "a", tok)
	b.waitfn("a", jsCount, 3, nil)
	ids := map[string]string{}
	for tag := range conns {
		var id string
		b.eval("a", jsRowIDByTag, tag, &id)
		if id == "" {
			t.Fatalf("no row for %s", tag)
		}
		ids[tag] = id
	}

	// Live, from the live list: how it is doing.
	b.do("click", map[string]any{"page": "a", "sel": `#conn-rows tr[data-id="` + ids["live"] + `"] a`})
	b.waitfn("a", `() => document.querySelector('#why-summary')?.textContent.startsWith('Live:') && !document.querySelector('#why-activity').textContent.includes('no message')`, nil, nil)
	if got := b.text("a", "#why-summary"); !strings.Contains(got, "bytes queued") || !strings.Contains(got, "last message") {
		t.Errorf("live summary: %q", got)
	}
	b.shot("a", "why-live", true)
	for _, sel := range []string{"#why-queue", "#why-rtt", "#why-activity"} {
		if got := b.text("a", sel); got == "" || got == "—" {
			t.Errorf("live %s is empty", sel)
		}
	}
	if got := b.text("a", "#why"); !strings.Contains(got, "None: no admin call targeted it") {
		t.Errorf("live why lists admin actions: %q", got)
	}

	// victim is closed from its page with a code and a reason.
	goTo(b, "a", "#/connection/"+ids["victim"])
	b.waitfn("a", `() => document.querySelector('#why')?.dataset.live === 'true'`, nil, nil)
	b.do("fill", map[string]any{"page": "a", "sel": "#kill-code", "value": "4003"})
	b.do("fill", map[string]any{"page": "a", "sel": "#kill-reason", "value": "abuse report 17"})
	b.do("click", map[string]any{"page": "a", "sel": "#kill"})
	b.do("click", map[string]any{"page": "a", "sel": "#kill-yes"})
	if ce := readClose(t, conns["victim"]); ce.Code != 4003 {
		t.Errorf("victim closed with %d, want 4003", ce.Code)
	}
	// The page itself turns to the why of the closed session.
	b.waitfn("a", `() => document.querySelector('#why-actions tr[data-action="connection.close"]')`, nil, nil)

	// big breaks --max-message-size: wsd closes it with 1009.
	if err := conns["big"].WriteMessage(websocket.TextMessage, []byte(strings.Repeat("x", 2000))); err != nil {
		t.Fatal(err)
	}
	if ce := readClose(t, conns["big"]); ce.Code != websocket.CloseMessageTooBig {
		t.Errorf("big closed with %d, want 1009", ce.Code)
	}

	// From the history list to victim's why: the cause in words and who
	// closed it.
	goTo(b, "a", "#/history")
	b.waitfn("a", `id => document.querySelector('#hist-rows tr[data-id="' + id + '"] a')`, ids["victim"], nil)
	b.do("click", map[string]any{"page": "a", "sel": `#hist-rows tr[data-id="` + ids["victim"] + `"] a`})
	b.waitfn("a", `() => document.querySelector('#why-actions tr[data-action="connection.close"]') && document.querySelector('#why-code')`, nil, nil)
	whyText := map[string]string{}
	for _, sel := range []string{"#why-summary", "#why-code", "#why-reason", "#why-closed-by", "#why-actions"} {
		whyText[sel] = b.text("a", sel)
	}
	if !strings.Contains(whyText["#why-code"], "4003") || whyText["#why-reason"] != "abuse report 17" ||
		!strings.HasPrefix(whyText["#why-closed-by"], "admin: ") || len(whyText["#why-closed-by"]) < len("admin: ")+10 {
		t.Errorf("victim's cause: %v", whyText)
	}
	if !strings.Contains(whyText["#why-summary"], "ops-alice closed it") {
		t.Errorf("victim's summary does not name the subject: %q", whyText["#why-summary"])
	}
	var subject string
	b.eval("a", `() => document.querySelector('#why-actions tr[data-action="connection.close"] td.subject').textContent`, nil, &subject)
	if subject != "ops-alice" {
		t.Errorf("the close action's subject: %q, want ops-alice", subject)
	}
	if got := b.text("a", "#why-no-blackbox"); !strings.Contains(got, "No black box") {
		t.Errorf("a clean close shows a black box: %q", got)
	}

	// big's why: the limit with its value and the black box, the oversized
	// frame in it.
	goTo(b, "a", "#/history")
	b.waitfn("a", `id => document.querySelector('#hist-rows tr[data-id="' + id + '"] a')`, ids["big"], nil)
	b.do("click", map[string]any{"page": "a", "sel": `#hist-rows tr[data-id="` + ids["big"] + `"] a`})
	b.waitfn("a", `() => document.querySelector('#why-blackbox') && document.querySelector('#why-limits')`, nil, nil)
	if got := b.text("a", "#why-code"); !strings.Contains(got, "1009") || !strings.Contains(got, "message too big") {
		t.Errorf("big's code: %q", got)
	}
	if got := b.text("a", "#why-limits"); !strings.Contains(got, "--max-message-size") || !strings.Contains(got, "1024 bytes") {
		t.Errorf("big's limits: %q", got)
	}
	b.shot("a", "why", true)
	var frames []struct{ Dir, Opcode, Length string }
	b.eval("a", `() => Array.from(document.querySelectorAll('#why-blackbox tbody tr'), tr => ({Dir: tr.dataset.dir, Opcode: tr.dataset.opcode, Length: tr.cells[5].textContent}))`, nil, &frames)
	found := false
	for _, f := range frames {
		if f.Dir == "in" && f.Opcode == "text" && f.Length == "2,000" {
			found = true
		}
	}
	if !found {
		t.Errorf("black box %+v has no inbound 2,000-byte text frame", frames)
	}
	b.do("viewport", map[string]any{"page": "a", "width": 390, "height": 844})
	var overflow bool
	b.eval("a", `() => document.documentElement.scrollWidth > window.innerWidth + 1`, nil, &overflow)
	if overflow {
		t.Error("the why view is wider than a phone screen")
	}
	b.noViolations("a")
}

// TestWhyRendering draws why answers the test makes up, for what a wsd
// without tracing cannot give: a trace link from --trace-url, and one whose
// template is not http(s), which is shown as text and never as a link.
func TestWhyRendering(t *testing.T) {
	requireBrowser(t)
	w := startWSD(t)
	tok := mint(t, w, "console-render", "sessions:read")
	b := startBrowser(t)
	b.do("open", map[string]any{"page": "r", "url": "http://" + w.Admin + "/ui/"})
	signIn(b, "r", tok)
	b.waitfn("r", `() => document.querySelector('#conn-msg .notice')`, nil, nil)
	const render = `async (answers) => {
		const { whyCard } = await import(new URL('why.js', location.href).href);
		const out = [];
		for (const a of answers) {
			const c = whyCard(a.id);
			c.show(a);
			const link = c.el.querySelector('#why-trace-link');
			out.push({ href: link ? link.href : '', text: c.el.querySelector('#why-trace')?.textContent || '', summary: c.el.querySelector('#why-summary').textContent });
		}
		return out;
	}`
	closed := time.Now().UTC().Format(time.RFC3339Nano)
	answers := []map[string]any{
		{"id": "c1", "live": false, "summary": "Closed with 1006.", "closed_at": closed, "close_code": 1006, "closed_by": "idle_timeout",
			"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "trace_url": "http://jaeger.internal:16686/trace/4bf92f3577b34da6a3ce929d0e0e4736", "admin_actions": []any{}},
		{"id": "c2", "live": false, "summary": "<b>not markup</b>", "closed_at": closed, "close_code": 1006, "closed_by": "crash",
			"trace_id": "00f067aa0ba902b7", "trace_url": "java" + "script:alert(1)", "admin_actions": []any{}},
	}
	var got []struct{ Href, Text, Summary string }
	b.eval("r", render, answers, &got)
	if len(got) != 2 {
		t.Fatalf("rendered %d answers", len(got))
	}
	if got[0].Href != "http://jaeger.internal:16686/trace/4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("trace link %q", got[0].Href)
	}
	if got[1].Href != "" || !strings.Contains(got[1].Text, "00f067aa0ba902b7") {
		t.Errorf("a non-http trace URL: link %q, text %q; want the id as text and no link", got[1].Href, got[1].Text)
	}
	if got[1].Summary != "<b>not markup</b>" {
		t.Errorf("summary %q: server text must be shown as text", got[1].Summary)
	}
	b.noViolations("r")
}
