package admin

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/admin/client"
	"github.com/wsd-dev/wsd/admin/token"
	"github.com/wsd-dev/wsd/daemon"
	"github.com/wsd-dev/wsd/internal/wsdtest"
	"github.com/wsd-dev/wsd/session"
	"github.com/wsd-dev/wsd/store"
)

// testEnv is a real daemon on loopback, a real SQLite store in a temporary
// directory and the admin API over them on an httptest server.
type testEnv struct {
	t      *testing.T
	d      *daemon.Daemon
	st     *store.Store
	srv    *Server
	ts     *httptest.Server
	wsURL  string
	signer token.Signer
}

type envOpts struct {
	cfg     Config
	history func(History) History // wraps the store (degraded-store tests)
	tp      trace.TracerProvider  // the daemon's; nil: tracing off
}

func newEnv(t *testing.T, o envOpts) *testEnv {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{Path: filepath.Join(t.TempDir(), "wsd.db"), FlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	dcfg := daemon.DefaultConfig()
	dcfg.Routes = []daemon.Route{{Path: "/", Handler: daemon.HandlerSink}, {Path: "/chat", Handler: daemon.HandlerEcho}}
	dcfg.LabelsFromQuery = []string{"room", "name"}
	dcfg.HandshakeRate = 0
	dcfg.CloseTimeout = time.Second
	d, err := daemon.New(dcfg, daemon.Deps{Recorder: st, TracerProvider: o.tp})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- d.Serve(context.Background(), ln) }()

	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer := token.Signer{Private: priv}
	ver, err := token.NewVerifier(token.VerifierConfig{Keys: []token.Key{signer.Key()}, Audience: token.DefaultAdminAudience})
	if err != nil {
		t.Fatal(err)
	}
	var hist History = st
	if o.history != nil {
		hist = o.history(st)
	}
	srv, err := New(o.cfg, Deps{Hub: d, Node: d, History: hist, Tokens: ver})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	e := &testEnv{t: t, d: d, st: st, srv: srv, ts: ts, wsURL: "ws://" + ln.Addr().String(), signer: signer}
	t.Cleanup(func() {
		srv.Shutdown()
		ts.Close()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := d.Shutdown(sctx); err != nil {
			t.Errorf("daemon shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("store close: %v", err)
		}
	})
	return e
}

// token mints an admin token for subject "tester" with scopes.
func (e *testEnv) token(scopes ...string) string {
	e.t.Helper()
	tok, err := e.signer.Mint(token.MintOptions{Subject: "tester", Audience: token.DefaultAdminAudience, Scopes: scopes, TTL: time.Hour})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func (e *testEnv) client(scopes ...string) *client.Client {
	e.t.Helper()
	if len(scopes) == 0 {
		scopes = []string{apitype.ScopeAdmin}
	}
	c, err := client.New(e.ts.URL, e.token(scopes...), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// do makes a raw request with the admin token (unless the caller set an
// Authorization header) and returns the status and body.
func (e *testEnv) do(method, path, contentType, body string, hdr http.Header) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.ts.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if req.Header.Get("Authorization") == "" {
		req.Header.Set("Authorization", "Bearer "+e.token(apitype.ScopeAdmin))
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// wsClient is a client under test whose messages read "text:..." or
// "binary:...".
type wsClient struct{ *wsdtest.Client }

// dial connects a client with query parameters (labels) to path.
func (e *testEnv) dial(path string) *wsClient {
	e.t.Helper()
	return &wsClient{wsdtest.Dial(e.t, e.wsURL+path, true)}
}

func (w *wsClient) expectNothing(t *testing.T) {
	t.Helper()
	select {
	case got := <-w.Msgs:
		t.Fatalf("client got %q, want nothing", got)
	default:
	}
}

func (w *wsClient) expectClose(t *testing.T, code int, reason string) {
	t.Helper()
	select {
	case ce := <-w.Closed:
		if ce == nil || int(ce.Code) != code || ce.Reason != reason {
			t.Fatalf("client close %v, want %d %q", ce, code, reason)
		}
	case got := <-w.Msgs:
		t.Fatalf("client got %q waiting for its close", got)
	case <-time.After(5 * time.Second):
		t.Fatalf("client not closed, want %d %q", code, reason)
	}
}

// idOf waits until the connection with label name=name is live and
// returns its id.
func (e *testEnv) idOf(name string) string {
	e.t.Helper()
	sel, err := session.ParseSelector("name=" + name)
	if err != nil {
		e.t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		cs, _, err := e.d.Connections(sel, "", 2)
		if err != nil {
			e.t.Fatal(err)
		}
		if len(cs) == 1 {
			return cs[0].ID
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("connection name=%s: %d live", name, len(cs))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// eventually polls cond until it holds or 5 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
