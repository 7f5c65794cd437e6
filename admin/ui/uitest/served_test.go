package uitest

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/wsd-dev/wsd/admin/ui"
)

// TestServedByWSD: the real binary serves the console under /ui/ with its
// headers, behind the admin listener's Host and Origin checks.
func TestServedByWSD(t *testing.T) {
	w := startWSD(t)
	get := func(path string, hdr map[string]string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+w.Admin+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			if k == "Host" {
				req.Host = v
			} else {
				req.Header.Set(k, v)
			}
		}
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return res, string(b)
	}

	res, body := get("/ui/", nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "app.js") {
		t.Fatalf("GET /ui/: %d\n%s", res.StatusCode, body)
	}
	if got := res.Header.Get("Content-Security-Policy"); got != ui.ContentSecurityPolicy {
		t.Errorf("CSP %q", got)
	}
	if res.Header.Get("X-Frame-Options") != "DENY" || res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("headers %v", res.Header)
	}
	if res, _ := get("/ui", nil); res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != "/ui/" {
		t.Errorf("GET /ui: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	if res, _ := get("/ui/missing.js", nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /ui/missing.js: %d", res.StatusCode)
	}
	// The guard of the admin listener applies: a foreign Host (DNS
	// rebinding) and a foreign Origin are refused.
	for _, hdr := range []map[string]string{
		{"Host": "evil.example"},
		{"Origin": "http://evil.example"},
		{"Sec-Fetch-Site": "cross-site"},
	} {
		if res, body := get("/ui/app.js", hdr); res.StatusCode != http.StatusForbidden {
			t.Errorf("GET /ui/app.js with %v: %d, want 403\n%s", hdr, res.StatusCode, body)
		}
	}
}
