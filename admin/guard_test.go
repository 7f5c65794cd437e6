package admin

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/admin/token"
	"github.com/wsd-dev/wsd/session"
)

func TestGuard(t *testing.T) {
	e := newEnv(t, envOpts{cfg: Config{AllowedHosts: []string{"wsd.internal"}, AllowedOrigins: []string{"https://console.example.com"}}})
	self := strings.TrimPrefix(e.ts.URL, "http://")
	for name, tc := range map[string]struct {
		host   string
		header http.Header
		status int
	}{
		"loopback IP":              {"", nil, 200},
		"localhost":                {"localhost:8081", nil, 200},
		"allowed name":             {"wsd.internal:8081", nil, 200},
		"IPv6 literal":             {"[::1]:8081", nil, 200},
		"rebinding name":           {"evil.example:8081", nil, 403},
		"same origin":              {"", http.Header{"Origin": {"http://" + self}}, 200},
		"allowed origin":           {"", http.Header{"Origin": {"https://console.example.com"}}, 200},
		"cross origin":             {"", http.Header{"Origin": {"https://evil.example"}}, 403},
		"origin null":              {"", http.Header{"Origin": {"null"}}, 403},
		"cross-site fetch":         {"", http.Header{"Sec-Fetch-Site": {"cross-site"}}, 403},
		"same-site fetch":          {"", http.Header{"Sec-Fetch-Site": {"same-origin"}}, 200},
		"websocket upgrade":        {"", http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}}, 400},
		"origin of another port":   {"", http.Header{"Origin": {"http://127.0.0.1:1"}}, 403},
		"origin with other scheme": {"", http.Header{"Origin": {"ftp://" + self}}, 403},
	} {
		t.Run(name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, e.ts.URL+"/v1/stats", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.host != "" {
				req.Host = tc.host
			}
			for k, v := range tc.header {
				req.Header[k] = v
			}
			req.Header.Set("Authorization", "Bearer "+e.token(apitype.ScopeAdmin))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
}

// TestTokensOverHTTP: the attack table's essentials through the router
// (the full table is in package token).
func TestTokensOverHTTP(t *testing.T) {
	e := newEnv(t, envOpts{})
	mint := func(c jwt.MapClaims, m jwt.SigningMethod, key any) string {
		tok, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	base := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": token.DefaultIssuer, "aud": token.DefaultAdminAudience, "sub": "x",
			"exp": time.Now().Add(time.Hour).Unix(), "scope": "admin"}
	}
	expired := base()
	expired["exp"] = time.Now().Add(-time.Hour).Unix()
	clientTok, err := e.signer.Mint(token.MintOptions{Subject: "alice", Audience: token.DefaultClientAudience, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	pub := []byte(e.signer.Key().Public.(ed25519.PublicKey))
	for name, tc := range map[string]struct {
		auth   string
		status int
		msg    string
	}{
		"valid":            {"Bearer " + mint(base(), jwt.SigningMethodEdDSA, e.signer.Private), 200, ""},
		"lower-case":       {"bearer " + mint(base(), jwt.SigningMethodEdDSA, e.signer.Private), 200, ""},
		"none":             {"Bearer " + mint(base(), jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType), 401, "token refused"},
		"HS256 public key": {"Bearer " + mint(base(), jwt.SigningMethodHS256, pub), 401, "bad signature"},
		"expired":          {"Bearer " + mint(expired, jwt.SigningMethodEdDSA, e.signer.Private), 401, "expired"},
		"client token":     {"Bearer " + clientTok, 401, "wrong audience"},
		"15 KiB of dots":   {"Bearer " + strings.Repeat(".", 15<<10), 401, "malformed"},
		"basic auth":       {"Basic dXNlcjpwYXNz", 401, "Bearer"},
		"empty bearer":     {"Bearer ", 401, "Bearer"},
		"missing":          {"", 401, "missing"},
	} {
		t.Run(name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, e.ts.URL+"/v1/stats", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.msg) {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			if tc.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		})
	}
}

// TestGuardHeadTooLarge: an oversized head gets the API's JSON error, not
// net/http's plain text (issue 19 #8).
func TestGuardHeadTooLarge(t *testing.T) {
	e := newEnv(t, envOpts{cfg: Config{MaxHeaderBytes: 4 << 10}})
	req, err := http.NewRequest(http.MethodGet, e.ts.URL+"/v1/stats", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.token(apitype.ScopeAdmin))
	req.Header.Set("X-Big", strings.Repeat("a", 5<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body apitype.Error
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("431 body is not the JSON error format: %v", err)
	}
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || body.Error.Code != apitype.CodeHeaderTooLarge {
		t.Fatalf("%d %+v", resp.StatusCode, body)
	}
}

// TestGuardWraps: Guard puts another handler (cmd/wsd's /metrics and
// health) behind the same Host and Origin checks as /v1.
func TestGuardWraps(t *testing.T) {
	e := newEnv(t, envOpts{})
	ts := httptest.NewServer(e.srv.Guard(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok\n")
	})))
	t.Cleanup(ts.Close)
	for _, tc := range []struct {
		host, origin string
		status       int
	}{
		{"", "", 200},
		{"localhost:8081", "", 200},
		{"evil.example:8081", "", 403},
		{"", "https://evil.example", 403},
	} {
		req, err := http.NewRequest(http.MethodGet, ts.URL+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		if tc.host != "" {
			req.Host = tc.host
		}
		if tc.origin != "" {
			req.Header.Set("Origin", tc.origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("host %q origin %q: status %d, want %d", tc.host, tc.origin, resp.StatusCode, tc.status)
		}
	}
}

// TestRefusedCallsAudited: 401 and 403 answers leave an audit entry, at
// most RefusedAuditPerSecond a second (issue 19 #8).
func TestRefusedCallsAudited(t *testing.T) {
	e := newEnv(t, envOpts{cfg: Config{RefusedAuditPerSecond: 3}})
	call := func(auth string) int {
		req, err := http.NewRequest(http.MethodGet, e.ts.URL+"/v1/audit", nil)
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := call("Bearer " + e.token(apitype.ScopeConnectionsRead)); got != 403 {
		t.Fatalf("read-only token: %d, want 403", got)
	}
	for range 20 {
		if got := call("Bearer x.y.z"); got != 401 {
			t.Fatalf("bad token: %d, want 401", got)
		}
	}
	ctx := context.Background()
	if err := e.st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	all, err := e.st.ListAudit(ctx, session.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var entries []session.AuditEntry
	for _, a := range all {
		if a.Action == apitype.ActionRefused {
			entries = append(entries, a)
		}
	}
	// 3 a second: 21 calls in well under seven seconds leave fewer than 21.
	if n := len(entries); n < 3 || n >= 21 {
		t.Fatalf("%d audit entries of 21 refused calls, want 3 a second", n)
	}
	var forbidden bool
	for _, a := range entries {
		if a.Result == apitype.CodeForbidden && a.Subject == "tester" && a.Target == "GET /v1/audit" {
			forbidden = true
		} else if a.Result != apitype.CodeUnauthorized {
			t.Errorf("entry %+v", a)
		}
	}
	if !forbidden {
		t.Errorf("no entry for the 403 of tester: %+v", entries)
	}
}
