package admin

import (
	"crypto/ed25519"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/admin/token"
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
