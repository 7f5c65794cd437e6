package admin

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/wsd-dev/wsd/admin/apitype"
)

// routes walks the router: "METHOD /pattern" of every route.
func routes(t *testing.T, s *Server) []string {
	t.Helper()
	var out []string
	err := chi.Walk(s.router, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		out = append(out, method+" "+route)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// TestRoutePolicies: every route has a policy (deny by default), and
// calling each one shows it: no token 401, a token without the scope 403,
// a token with exactly the scope neither.
func TestRoutePolicies(t *testing.T) {
	e := newEnv(t, envOpts{})
	all := routes(t, e.srv)
	if len(all) < 12 {
		t.Fatalf("only %d routes: %v", len(all), all)
	}
	noScope := e.token()
	known := []string{apitype.ScopeConnectionsRead, apitype.ScopeConnectionsWrite, apitype.ScopeConnectionsClose,
		apitype.ScopeSessionsRead, apitype.ScopeAuditRead}
	for _, rt := range all {
		p, ok := e.srv.policies[rt]
		if !ok {
			t.Errorf("route %s has no access policy", rt)
			continue
		}
		if p.scope != "" && !slices.Contains(known, p.scope) {
			t.Errorf("route %s: unknown scope %q", rt, p.scope)
		}
		method, pattern, _ := strings.Cut(rt, " ")
		path := strings.ReplaceAll(pattern, "{id}", "0190b7a0-0000-7000-8000-000000000000")
		if rt == "GET /v1/events" {
			continue // a stream: checked below without a token and in its own test
		}
		body := ""
		if method == http.MethodPost {
			body = "{}"
		}
		status, _ := e.do(method, path, "application/json", body, http.Header{"Authorization": {"Bearer x.y.z"}})
		if status != http.StatusUnauthorized {
			t.Errorf("%s with a bad token: %d, want 401", rt, status)
		}
		status, _ = e.do(method, path, "application/json", body, http.Header{"Authorization": {"Bearer " + noScope}})
		if p.scope != "" && status != http.StatusForbidden {
			t.Errorf("%s without scope %s: %d, want 403", rt, p.scope, status)
		}
		if p.scope == "" && status >= 400 {
			t.Errorf("%s with any token: %d", rt, status)
		}
		if p.scope != "" {
			status, _ = e.do(method, path, "application/json", body, http.Header{"Authorization": {"Bearer " + e.token(p.scope)}})
			if status == http.StatusUnauthorized || status == http.StatusForbidden {
				t.Errorf("%s with scope %s: %d", rt, p.scope, status)
			}
		}
	}
	status, _ := e.do(http.MethodGet, "/v1/events", "", "", http.Header{"Authorization": {"Bearer " + noScope}})
	if status != http.StatusForbidden {
		t.Errorf("events without scope: %d", status)
	}
	// Unknown routes: still authenticated first.
	if status, _ := e.do(http.MethodGet, "/v1/nope", "", "", http.Header{"Authorization": {"Bearer x.y.z"}}); status != http.StatusUnauthorized {
		t.Errorf("unknown route without a valid token: %d", status)
	}
	if status, body := e.do(http.MethodGet, "/v1/nope", "", "", nil); status != http.StatusNotFound || !strings.Contains(body, `"not_found"`) {
		t.Errorf("unknown route: %d %s", status, body)
	}
	if status, body := e.do(http.MethodPut, "/v1/stats", "", "", nil); status != http.StatusMethodNotAllowed || !strings.Contains(body, `"method_not_allowed"`) {
		t.Errorf("wrong method: %d %s", status, body)
	}
	// A 405 says what is allowed (RFC 9110 §15.5.6; issue 21).
	for path, want := range map[string]string{"/v1/stats": "GET", "/v1/connections/abc": "GET, DELETE", "/v1/broadcast": "POST"} {
		req, err := http.NewRequest(http.MethodPut, e.ts.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+e.token(apitype.ScopeAdmin))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Allow"); resp.StatusCode != http.StatusMethodNotAllowed || got != want {
			t.Errorf("PUT %s: %d, Allow %q, want 405 and %q", path, resp.StatusCode, got, want)
		}
	}
}

// TestOpenAPIMatchesRoutes: every route is in openapi.json with its scope,
// and every operation there is a route.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	e := newEnv(t, envOpts{})
	raw, err := e.client().OpenAPI(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method, op := range ops {
			rt := strings.ToUpper(method) + " " + path
			documented = append(documented, rt)
			var o struct {
				Scope string `json:"x-wsd-scope"`
			}
			if err := json.Unmarshal(op, &o); err != nil {
				t.Fatal(err)
			}
			p, ok := e.srv.policies[rt]
			if !ok {
				continue // reported below
			}
			want := p.scope
			if want == "" {
				want = "any valid token"
			}
			if o.Scope != want {
				t.Errorf("%s: openapi says scope %q, the router %q", rt, o.Scope, want)
			}
		}
	}
	sort.Strings(documented)
	routed := routes(t, e.srv)
	for _, rt := range routed {
		if !slices.Contains(documented, rt) {
			t.Errorf("route %s is not in openapi.json", rt)
		}
	}
	for _, rt := range documented {
		if !slices.Contains(routed, rt) {
			t.Errorf("openapi.json documents %s, which is not routed", rt)
		}
	}
}
