package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/admin/client"
	"github.com/wsd-dev/wsd/admin/token"
	"github.com/wsd-dev/wsd/protocol"
)

// mintToken runs `wsd token create` in-process.
func mintToken(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := run(context.Background(), append([]string{"token", "create"}, args...), func(string) string { return "" }, &out, &errOut); code != exitOK {
		t.Fatalf("wsd token create %v: exit %d: %s", args, code, errOut.String())
	}
	return strings.TrimSpace(out.String())
}

func TestTokenCreate(t *testing.T) {
	dir := t.TempDir()
	// Without a key, nothing is minted and nothing is created (issue 21:
	// a key made here would sign tokens the running daemon refuses).
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"token", "create", "--subject", "ops", "--scope", "admin", "--state-dir", filepath.Join(dir, "missing")},
		func(string) string { return "" }, &out, &errOut)
	if code == exitOK || out.Len() != 0 || !strings.Contains(errOut.String(), "no admin key in "+filepath.Join(dir, "missing")) {
		t.Fatalf("no key: exit %d, out %q, err %q", code, out.String(), errOut.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "missing")); !os.IsNotExist(err) {
		t.Fatalf("token create without a key created the state directory: %v", err)
	}
	if _, _, err := token.LoadOrCreateKey(filepath.Join(dir, adminKeyName)); err != nil { // as wsd's first start does
		t.Fatal(err)
	}
	tok := mintToken(t, "--subject", "ops", "--scope", "connections:read,audit:read", "--ttl", "1h", "--state-dir", dir)
	fi, err := os.Stat(filepath.Join(dir, adminKeyName))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v", fi.Mode().Perm())
	}
	s, err := token.LoadSigner(filepath.Join(dir, adminKeyName))
	if err != nil {
		t.Fatal(err)
	}
	v, err := token.NewVerifier(token.VerifierConfig{Keys: []token.Key{s.Key()}, Audience: token.DefaultAdminAudience})
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "ops" || c.Scope != "connections:read audit:read" || c.ExpiresAt.Sub(c.IssuedAt.Time) != time.Hour {
		t.Fatalf("claims %+v", c)
	}
	for _, args := range [][]string{
		{"--subject", "ops", "--scope", "everything"},
		{"--scope", "admin"},
		{"--subject", "ops"},
		{"--subject", "ops", "--scope", "admin", "--ttl", "-1h"},
		{"--subject", "ops", "--scope", "admin", "--label", "a=b"},
		{"--subject", "ops", "--client", "--scope", "admin"},
	} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), append([]string{"token", "create", "--state-dir", dir}, args...), func(string) string { return "" }, &out, &errOut)
		if code != exitUsage || out.Len() != 0 || !strings.HasPrefix(errOut.String(), "wsd token create: ") {
			t.Errorf("%v: exit %d, out %q, err %q", args, code, out.String(), errOut.String())
		}
	}
	// --out writes a file only its owner can read, even over a looser one.
	outFile := filepath.Join(dir, "ops.token")
	if err := os.WriteFile(outFile, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := mintToken(t, "--subject", "ops", "--scope", "admin", "--state-dir", dir, "--out", outFile); got != "" {
		t.Fatalf("--out also printed %q", got)
	}
	fi, err = os.Stat(outFile)
	if err != nil {
		t.Fatal(err)
	}
	written, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("--out file mode %v, want 0600", fi.Mode().Perm())
	}
	if _, err := v.Verify(strings.TrimSpace(string(written))); err != nil {
		t.Fatalf("--out token: %v", err)
	}
	if err := os.Chmod(filepath.Join(dir, adminKeyName), 0o644); err != nil {
		t.Fatal(err)
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"token", "create", "--state-dir", dir, "--subject", "x", "--scope", "admin"}, func(string) string { return "" }, &bytes.Buffer{}, &errOut); code == exitOK || !strings.Contains(errOut.String(), "chmod 600") {
		t.Fatalf("world-readable key: exit %d %s", code, errOut.String())
	}
}

// TestAdminAPIServed: the daemon serves the admin API with the key it
// generated at first start, next to /healthz and /readyz.
func TestAdminAPIServed(t *testing.T) {
	dir := t.TempDir()
	w := startWSD(t, wsdOpts{stateDir: dir})
	c, err := client.New(w.Admin, mintToken(t, "--subject", "ops", "--scope", "admin", "--state-dir", dir), nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Stats(t.Context())
	if err != nil || st.History.Status != "ok" {
		t.Fatalf("stats %+v %v", st, err)
	}
	bad, err := client.New(w.Admin, "x.y.z", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Stats(t.Context()); !client.IsAuth(err) {
		t.Fatalf("bad token: %v", err)
	}
	resp, err := http.Get("http://" + w.Admin + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("readyz %d", resp.StatusCode)
	}
	// The whole admin listener refuses a name it was not told about (DNS
	// rebinding), not only /v1 (issue 19 #8).
	for _, path := range []string{"/metrics", "/healthz", "/readyz", "/v1/stats"} {
		req, err := http.NewRequest(http.MethodGet, "http://"+w.Admin+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = "evil.example"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s with Host evil.example: %d, want 403", path, resp.StatusCode)
		}
	}
}

// TestClientTokens: --client-auth=jwt refuses a handshake without a valid
// token with 401, takes user and labels from the token (header, query or
// subprotocol), and closes the connection with 4401 when it expires.
func TestClientTokens(t *testing.T) {
	dir := t.TempDir()
	w := startWSD(t, wsdOpts{stateDir: dir, args: []string{"--client-auth", "jwt", "--token-leeway", "0s",
		"--subprotocols", "chat", "--ping-interval", "200ms"}})
	admin, err := client.New(w.Admin, mintToken(t, "--subject", "ops", "--scope", "admin", "--state-dir", dir), nil)
	if err != nil {
		t.Fatal(err)
	}
	long := mintToken(t, "--client", "--subject", "alice", "--label", "room=lobby", "--ttl", "1h", "--state-dir", dir)
	adminTok := mintToken(t, "--subject", "ops", "--scope", "admin", "--state-dir", dir)
	ctx := t.Context()

	for name, opts := range map[string]*protocol.DialOptions{
		"no token":       nil,
		"garbage":        {Header: http.Header{"Authorization": {"Bearer x.y.z"}}},
		"an admin token": {Header: http.Header{"Authorization": {"Bearer " + adminTok}}},
	} {
		_, resp, err := protocol.Dial(ctx, w.url("/"), opts)
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: %v %v", name, resp, err)
		}
	}
	for name, dial := range map[string]func() (*protocol.Conn, error){
		"header": func() (*protocol.Conn, error) {
			c, _, err := protocol.Dial(ctx, w.url("/"), &protocol.DialOptions{Header: http.Header{"Authorization": {"Bearer " + long}}})
			return c, err
		},
		"query": func() (*protocol.Conn, error) {
			c, _, err := protocol.Dial(ctx, w.url("/?access_token="+long), nil)
			return c, err
		},
		"subprotocol": func() (*protocol.Conn, error) {
			c, _, err := protocol.Dial(ctx, w.url("/"), &protocol.DialOptions{Subprotocols: []string{"chat", "bearer." + long}})
			if err == nil && c.Subprotocol() != "chat" {
				err = errors.New("subprotocol " + c.Subprotocol())
			}
			return c, err
		},
	} {
		c, err := dial()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		defer c.CloseNow()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		all, _, err := admin.AllConnections(ctx, "user=alice,room=lobby")
		if err != nil {
			t.Fatal(err)
		}
		if len(all) == 3 {
			for _, c := range all {
				if c.TokenExpiresAt == nil {
					t.Fatalf("no token expiry: %+v", c)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections of alice", len(all))
		}
		time.Sleep(5 * time.Millisecond)
	}

	short := mintToken(t, "--client", "--subject", "bob", "--ttl", "1s", "--state-dir", dir)
	c, _, err := protocol.Dial(ctx, w.url("/"), &protocol.DialOptions{Header: http.Header{"Authorization": {"Bearer " + short}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, _, err = c.Read(rctx)
	var ce *protocol.CloseError
	if !errors.As(err, &ce) || ce.Code != 4401 || ce.Reason != "token expired" {
		t.Fatalf("expiry: %v", err)
	}
}

// TestKeysReloadOnSIGHUP: SIGHUP re-reads the token keys, the state
// directory's admin key and --client-key-file alike, so keys rotate without
// a restart; a key file that no longer parses (or is gone) refuses the
// reload and the keys in force stay.
func TestKeysReloadOnSIGHUP(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	newKey := func() token.Signer {
		t.Helper()
		_, priv, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		return token.Signer{Private: priv}
	}
	writePEM := func(path, typ string, der []byte, mode os.FileMode) {
		t.Helper()
		if err := os.WriteFile(path+".tmp", pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil { // as an operator rotating a key would
			t.Fatal(err)
		}
	}
	writeAdminKey := func(s token.Signer) {
		t.Helper()
		der, err := x509.MarshalPKCS8PrivateKey(s.Private)
		if err != nil {
			t.Fatal(err)
		}
		writePEM(filepath.Join(dir, "admin.key"), "PRIVATE KEY", der, 0o600)
	}
	clientKeyFile := filepath.Join(t.TempDir(), "client.pem")
	writeClientKey := func(s token.Signer) {
		t.Helper()
		der, err := x509.MarshalPKIXPublicKey(s.Private.Public())
		if err != nil {
			t.Fatal(err)
		}
		writePEM(clientKeyFile, "PUBLIC KEY", der, 0o644)
	}
	mint := func(s token.Signer, aud string) string {
		t.Helper()
		tok, err := s.Mint(token.MintOptions{Subject: "alice", Audience: aud, Scopes: []string{"admin"}, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	adminStatus := func(w *wsd, tok string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+w.Admin+"/v1/connections", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	clientStatus := func(w *wsd, tok string) int {
		t.Helper()
		st, _ := dialStatus(t, w.url("/"), &protocol.DialOptions{Header: http.Header{"Authorization": {"Bearer " + tok}}})
		return st
	}
	reload := func(w *wsd, want string) map[string]any {
		t.Helper()
		n := w.LogCount()
		w.signal(syscall.SIGHUP)
		return w.waitLogAfter(n, want, 10*time.Second)
	}

	a1, a2, c1, c2 := newKey(), newKey(), newKey(), newKey()
	writeAdminKey(a1)
	writeClientKey(c1)
	w := startWSD(t, wsdOpts{stateDir: dir, args: []string{"--client-auth", "jwt", "--client-key-file", clientKeyFile}})
	live := dialWS(t, w.url("/?access_token="+mint(c1, token.DefaultClientAudience)), nil)
	if st := adminStatus(w, mint(a1, token.DefaultAdminAudience)); st != http.StatusOK {
		t.Fatalf("admin token of the first key: %d", st)
	}

	writeAdminKey(a2)
	writeClientKey(c2)
	line := reload(w, "reloaded")
	if !strings.Contains(fmt.Sprint(line["changed"]), "keys") {
		t.Errorf("reload does not say the keys changed: %v", line)
	}
	for _, c := range []struct {
		name string
		got  int
		want int
	}{
		{"old admin token", adminStatus(w, mint(a1, token.DefaultAdminAudience)), http.StatusUnauthorized},
		{"new admin token", adminStatus(w, mint(a2, token.DefaultAdminAudience)), http.StatusOK},
		{"old client token", clientStatus(w, mint(c1, token.DefaultClientAudience)), http.StatusUnauthorized},
		{"new client token", clientStatus(w, mint(c2, token.DefaultClientAudience)), http.StatusSwitchingProtocols},
	} {
		if c.got != c.want {
			t.Errorf("%s after rotation: %d, want %d", c.name, c.got, c.want)
		}
	}
	// A connection let in by the old key stays (its token's expiry still
	// applies).
	if err := live.Write(t.Context(), protocol.TextMessage, []byte("still")); err != nil {
		t.Fatal(err)
	}
	if _, p := readMessage(t, live); string(p) != "still" {
		t.Fatalf("connection of the old key: %q", p)
	}

	// A broken client key file, then a missing admin key: refused, and the
	// keys in force keep working.
	if err := os.WriteFile(clientKeyFile, []byte("not a key"), 0o644); err != nil {
		t.Fatal(err)
	}
	line = reload(w, "reload refused; keeping the current configuration")
	if !strings.Contains(fmt.Sprint(line["err"]), "client-key-file") {
		t.Errorf("refusal does not name the file: %v", line)
	}
	writeClientKey(c2)
	if err := os.Remove(filepath.Join(dir, "admin.key")); err != nil {
		t.Fatal(err)
	}
	line = reload(w, "reload refused; keeping the current configuration")
	if !strings.Contains(fmt.Sprint(line["err"]), "admin.key") {
		t.Errorf("refusal does not name the file: %v", line)
	}
	if _, err := os.Stat(filepath.Join(dir, "admin.key")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a reload created an admin key: %v", err)
	}
	if st := adminStatus(w, mint(a2, token.DefaultAdminAudience)); st != http.StatusOK {
		t.Errorf("admin token after refused reloads: %d", st)
	}
	if st := clientStatus(w, mint(c2, token.DefaultClientAudience)); st != http.StatusSwitchingProtocols {
		t.Errorf("client token after refused reloads: %d", st)
	}
}
