package ui

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

func newTestHandler(t *testing.T) *Handler {
	t.Helper()
	h, err := NewHandler()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func get(t *testing.T, h http.Handler, method, target string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func wantSecurityHeaders(t *testing.T, target string, res *http.Response) {
	t.Helper()
	for k, v := range map[string]string{
		"Content-Security-Policy": ContentSecurityPolicy,
		"X-Frame-Options":         "DENY",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
	} {
		if got := res.Header.Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", target, k, got, v)
		}
	}
	if res.Header.Get("Cache-Control") == "" {
		t.Errorf("%s: no Cache-Control", target)
	}
}

func TestServesFilesWithTypesAndHeaders(t *testing.T) {
	h := newTestHandler(t)
	for target, ctype := range map[string]string{
		"/ui/":           "text/html; charset=utf-8",
		"/ui/index.html": "text/html; charset=utf-8",
		"/ui/app.js":     "text/javascript; charset=utf-8",
		"/ui/api.js":     "text/javascript; charset=utf-8",
		"/ui/app.css":    "text/css; charset=utf-8",
		"/ui/icon.svg":   "image/svg+xml",
	} {
		res := get(t, h, http.MethodGet, target, nil)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", target, res.StatusCode)
			continue
		}
		if got := res.Header.Get("Content-Type"); got != ctype {
			t.Errorf("GET %s: Content-Type %q, want %q", target, got, ctype)
		}
		if got := res.Header.Get("Cache-Control"); got != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q, want no-cache", target, got)
		}
		if res.Header.Get("ETag") == "" {
			t.Errorf("GET %s: no ETag", target)
		}
		wantSecurityHeaders(t, target, res)
	}
}

func TestIndexForRoot(t *testing.T) {
	h := newTestHandler(t)
	res := get(t, h, http.MethodGet, "/ui/", nil)
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), `<script type="module" src="app.js">`) {
		t.Fatalf("GET /ui/ is not index.html:\n%s", body)
	}

	res = get(t, h, http.MethodGet, "/ui", nil)
	if res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != "/ui/" {
		t.Errorf("GET /ui: %d to %q, want 301 to /ui/", res.StatusCode, res.Header.Get("Location"))
	}
	wantSecurityHeaders(t, "/ui", res)
}

func TestNotFoundInside(t *testing.T) {
	h := newTestHandler(t)
	for _, target := range []string{"/ui/nope.js", "/ui/static/app.js", "/ui/./app.js", "/ui//app.js", "/ui/x/../app.js", "/ui/app.js/", "/uix", "/v1/stats"} {
		res := get(t, h, http.MethodGet, target, nil)
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", target, res.StatusCode)
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("GET %s: Content-Type %q, want text/plain", target, ct)
		}
		wantSecurityHeaders(t, target, res)
	}
}

func TestMethods(t *testing.T) {
	h := newTestHandler(t)
	res := get(t, h, http.MethodHead, "/ui/app.js", nil)
	if res.StatusCode != http.StatusOK {
		t.Errorf("HEAD: %d", res.StatusCode)
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		res := get(t, h, m, "/ui/", nil)
		if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s /ui/: %d Allow %q, want 405 GET, HEAD", m, res.StatusCode, res.Header.Get("Allow"))
		}
	}
}

func TestConditionalGet(t *testing.T) {
	h := newTestHandler(t)
	etag := get(t, h, http.MethodGet, "/ui/app.js", nil).Header.Get("ETag")
	res := get(t, h, http.MethodGet, "/ui/app.js", map[string]string{"If-None-Match": etag})
	if res.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match %s: %d, want 304", etag, res.StatusCode)
	}
}

var scriptTag = regexp.MustCompile(`(?i)<script[^>]*>`)

// TestNoInlineCode checks the embedded pages for what the CSP would block:
// inline scripts, inline event handlers, style attributes and elements,
// and anything loaded from another origin.
func TestNoInlineCode(t *testing.T) {
	h := newTestHandler(t)
	bad := map[string]*regexp.Regexp{
		"inline script":         regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>\s*[^<\s]`),
		"event attribute":       regexp.MustCompile(`(?i)<[a-z][^>]*\son[a-z]+\s*=`),
		"style attribute":       regexp.MustCompile(`(?i)<[a-z][^>]*\sstyle\s*=`),
		"style element":         regexp.MustCompile(`(?i)<style[\s>]`),
		"remote URL":            regexp.MustCompile(`(?i)(?:src|href)\s*=\s*["']?(?:https?:)?//`),
		"innerHTML":             regexp.MustCompile(`\.(?:inner|outer)HTML\s*=|insertAdjacentHTML|document\.write`),
		"eval":                  regexp.MustCompile(`\beval\(|new Function\(`),
		"setAttribute style":    regexp.MustCompile(`setAttribute\(\s*['"]style['"]`),
		"javascript: URL":       regexp.MustCompile(`(?i)javascript:`),
		"import from elsewhere": regexp.MustCompile(`(?m)^\s*import[^'"]*['"](?:https?:)?//`),
	}
	for name, f := range h.files {
		for what, re := range bad {
			if loc := re.FindIndex(f.body); loc != nil {
				t.Errorf("%s: %s at byte %d: %q", name, what, loc[0], f.body[loc[0]:min(len(f.body), loc[1]+20)])
			}
		}
		for _, tag := range scriptTag.FindAll(f.body, -1) {
			if !strings.Contains(string(tag), " src=") {
				t.Errorf("%s: script without src: %s", name, tag)
			}
		}
	}
}

func TestNewHandlerRefusesUnknownTypes(t *testing.T) {
	fsys := fstest.MapFS{
		"static/index.html": {Data: []byte("<!doctype html>")},
		"static/notes.txt":  {Data: []byte("x")},
	}
	if _, err := newHandler(fsys, "static"); err == nil {
		t.Error("a .txt file was accepted")
	}
	if _, err := newHandler(fstest.MapFS{"static/app.js": {Data: []byte("")}}, "static"); err == nil {
		t.Error("a tree without index.html was accepted")
	}
}
