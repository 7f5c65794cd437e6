package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/wsd-dev/wsd/admin/client"
	"github.com/wsd-dev/wsd/protocol"
)

// The CLI tests run testdata/script/*.txtar against a real wsd binary on
// loopback (built once per run) and the wsctl command (this test binary).
// Custom commands start wsd, open WebSocket clients and wait for what the
// clients see; cmpscrub compares output with golden text after replacing
// what changes between runs (ids, times, ports).

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"wsctl": main})
}

// buildWSD builds the wsd binary (the build cache makes it quick after the
// first time).
func buildWSD(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "wsd")
	if out, err := exec.Command("go", "build", "-o", bin, "../wsd").CombinedOutput(); err != nil {
		t.Fatalf("building wsd: %v\n%s", err, out)
	}
	return bin
}

func TestScripts(t *testing.T) {
	bin := buildWSD(t)
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Condition:           condition,
		Setup: func(e *testscript.Env) error {
			e.Setenv("WSD", bin)
			e.Setenv("HOME", e.WorkDir)
			e.Setenv("XDG_CONFIG_HOME", filepath.Join(e.WorkDir, ".config"))
			e.Values[stateKey{}] = &scriptState{clients: map[string]*wsClient{}}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"wsd-start":         cmdWSDStart,
			"client":            cmdClient,
			"client-recv":       cmdClientRecv,
			"client-closed":     cmdClientClosed,
			"await-session":     cmdAwaitSession,
			"await-subscribers": cmdAwaitSubscribers,
			"cmpscrub":          cmdCmpScrub,
			"await-audit":       cmdAwaitAudit,
			"mint-token":        cmdMintToken,
			"wsctl-code":        cmdWsctlCode,
			"wsctl-stdin":       cmdWsctlStdin,
			"unique-prefix":     cmdUniquePrefix,
			"probe-param":       cmdProbeParam,
			"gen-cert":          cmdGenCert,
			"common-prefix":     cmdCommonPrefix,
		},
	})
}

type stateKey struct{}

type scriptState struct {
	mu      sync.Mutex
	clients map[string]*wsClient
}

func state(ts *testscript.TestScript) *scriptState {
	return ts.Value(stateKey{}).(*scriptState)
}

const waitFor = 10 * time.Second

// wsd-start [flags...]: start wsd on free loopback ports with its state in
// $WORK/state; set WS_URL (and WS_ADDR, its host:port), WSCTL_SERVER and WSCTL_TOKEN (an admin token).
func cmdWSDStart(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! wsd-start")
	}
	bin := ts.Getenv("WSD")
	dir := ts.MkAbs("state")
	cmd := exec.Command(bin, append([]string{"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--state-dir", dir,
		"--log-format", "json", "--handshake-rate", "0", "--close-timeout", "1s", "--label-from-query", "name,room"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	stderr, err := cmd.StderrPipe()
	ts.Check(err)
	ts.Check(cmd.Start())
	exited := make(chan struct{})
	go func() {
		if err := cmd.Wait(); err != nil {
			ts.Logf("wsd exited: %v", err)
		}
		close(exited)
	}()
	ts.Defer(func() {
		if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			ts.Logf("kill wsd: %v", err)
		}
		<-exited
	})
	lines := make(chan map[string]any, 16)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "listening" {
				lines <- m
			}
		}
	}()
	select {
	case m := <-lines:
		ts.Setenv("WS_URL", "ws://"+m["addr"].(string))
		ts.Setenv("WS_ADDR", m["addr"].(string))
		scheme := "http://"
		if slices.Contains(args, "--admin-tls-cert") {
			scheme = "https://"
		}
		ts.Setenv("WSCTL_SERVER", scheme+m["admin"].(string))
	case <-exited:
		ts.Fatalf("wsd exited before listening")
	case <-time.After(waitFor):
		ts.Fatalf("wsd did not start")
	}
	out, err := exec.Command(bin, "token", "create", "--subject", "ops", "--scope", "admin", "--ttl", "1h", "--state-dir", dir).Output()
	ts.Check(err)
	ts.Setenv("WSCTL_TOKEN", strings.TrimSpace(string(out)))
}

// adminClient is the tests' own client of the admin API; it trusts
// $TEST_CA (set by gen-cert) for an https listener.
func adminClient(ts *testscript.TestScript) *client.Client {
	var opts *client.Options
	if ca := ts.Getenv("TEST_CA"); ca != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(ts.ReadFile(ca))) {
			ts.Fatalf("no certificate in %s", ca)
		}
		opts = &client.Options{TLSConfig: &tls.Config{RootCAs: pool}}
	}
	c, err := client.New(ts.Getenv("WSCTL_SERVER"), ts.Getenv("WSCTL_TOKEN"), opts)
	ts.Check(err)
	return c
}

// wsClient is a WebSocket client that collects what it receives.
type wsClient struct {
	conn   *protocol.Conn
	msgs   chan string
	closed chan error
}

// client NAME [QUERY]: connect to $WS_URL/?name=NAME&QUERY and set $NAME
// to the connection's id.
func cmdClient(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: client NAME [QUERY]")
	}
	name := args[0]
	u := ts.Getenv("WS_URL") + "/?name=" + name
	if len(args) == 2 {
		u += "&" + args[1]
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	conn, _, err := protocol.Dial(ctx, u, nil)
	ts.Check(err)
	w := &wsClient{conn: conn, msgs: make(chan string, 64), closed: make(chan error, 1)}
	go func() {
		for {
			_, p, err := conn.Read(context.Background())
			if err != nil {
				w.closed <- err
				return
			}
			w.msgs <- string(p)
		}
	}()
	ts.Defer(func() {
		if err := conn.CloseNow(); err != nil && !strings.Contains(err.Error(), "closed") {
			ts.Logf("close %s: %v", name, err)
		}
	})
	st := state(ts)
	st.mu.Lock()
	st.clients[name] = w
	st.mu.Unlock()

	c := adminClient(ts)
	deadline := time.Now().Add(waitFor)
	for {
		conns, _, err := c.AllConnections(ctx, "name="+name)
		ts.Check(err)
		if len(conns) == 1 {
			ts.Setenv(name, conns[0].ID)
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("connection %s not listed", name)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func getClient(ts *testscript.TestScript, name string) *wsClient {
	st := state(ts)
	st.mu.Lock()
	defer st.mu.Unlock()
	w, ok := st.clients[name]
	if !ok {
		ts.Fatalf("no client %s", name)
	}
	return w
}

// client-recv NAME TEXT: wait until client NAME receives TEXT (its next
// message, less one trailing newline).
func cmdClientRecv(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: client-recv NAME TEXT")
	}
	w := getClient(ts, args[0])
	if neg {
		select {
		case m := <-w.msgs:
			ts.Fatalf("client %s received %q", args[0], m)
		default:
			return
		}
	}
	select {
	case m := <-w.msgs:
		if strings.TrimSuffix(m, "\n") != args[1] {
			ts.Fatalf("client %s received %q, want %q", args[0], m, args[1])
		}
	case err := <-w.closed:
		ts.Fatalf("client %s closed (%v) before receiving %q", args[0], err, args[1])
	case <-time.After(waitFor):
		ts.Fatalf("client %s received nothing", args[0])
	}
}

// client-closed NAME CODE [REASON]: wait until client NAME is closed with
// CODE and REASON.
func cmdClientClosed(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: client-closed NAME CODE [REASON]")
	}
	w := getClient(ts, args[0])
	code, err := strconv.Atoi(args[1])
	ts.Check(err)
	reason := ""
	if len(args) == 3 {
		reason = args[2]
	}
	select {
	case err := <-w.closed:
		var ce *protocol.CloseError
		if !errors.As(err, &ce) || int(ce.Code) != code || ce.Reason != reason {
			ts.Fatalf("client %s: %v, want close %d %q", args[0], err, code, reason)
		}
	case m := <-w.msgs:
		ts.Fatalf("client %s received %q while waiting for its close", args[0], m)
	case <-time.After(waitFor):
		ts.Fatalf("client %s not closed", args[0])
	}
}

// await-session ID: wait until the session's close is in history.
func cmdAwaitSession(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: await-session ID")
	}
	c := adminClient(ts)
	deadline := time.Now().Add(waitFor)
	for {
		s, err := c.Session(context.Background(), args[0])
		if err == nil && s.ClosedAt != nil {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("session %s not recorded as closed: %v", args[0], err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// await-subscribers N: wait until N event streams are subscribed.
func cmdAwaitSubscribers(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: await-subscribers N")
	}
	n, err := strconv.Atoi(args[0])
	ts.Check(err)
	c := adminClient(ts)
	deadline := time.Now().Add(waitFor)
	for {
		st, err := c.Stats(context.Background())
		ts.Check(err)
		if st.EventSubscribers == n {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%d event subscribers, want %d", st.EventSubscribers, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var scrubs = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`), "TIME"},
	{regexp.MustCompile(`\b\d\d:\d\d:\d\d\.\d{3}\b`), "CLOCK"},
	{regexp.MustCompile(`(\d+[smhd] ago|just now)`), "AGO"},
	{regexp.MustCompile(`\b(\d+ms|\d+s|\d+m\d+s|\d+h\d+m)\b`), "DUR"},
	{regexp.MustCompile(`127\.0\.0\.1:\d+`), "ADDR"},
	{regexp.MustCompile(`(?m)^Node:(\s+)\S+$`), "Node:${1}NODE"},
	{regexp.MustCompile(`[ \t]+`), " "},
}

// cmpscrub stdout|stderr FILE: compare after replacing client ids by
// <NAME>, times by TIME/CLOCK/AGO, durations by DUR, loopback ports by
// ADDR, and runs of blanks by one space (column widths follow the ids).
func cmdCmpScrub(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: cmpscrub stdout|stderr FILE")
	}
	var got string
	switch args[0] {
	case "stdout":
		got = ts.ReadFile("stdout")
	case "stderr":
		got = ts.ReadFile("stderr")
	default:
		ts.Fatalf("cmpscrub: stdout or stderr")
	}
	st := state(ts)
	st.mu.Lock()
	for name := range st.clients {
		if id := ts.Getenv(name); id != "" {
			got = strings.ReplaceAll(got, id, "<"+name+">")
		}
	}
	st.mu.Unlock()
	for _, s := range scrubs {
		got = s.re.ReplaceAllString(got, s.with)
	}
	lines := strings.Split(got, "\n")
	for i := range lines {
		lines[i] = strings.TrimRight(lines[i], " ")
	}
	got = strings.Join(lines, "\n")
	want := ts.ReadFile(args[1])
	if got != want {
		ts.Logf("got (scrubbed):\n%s", got)
		ts.Fatalf("%s differs from %s", args[0], args[1])
	}
}

// await-audit N: wait until the audit log holds N entries.
func cmdAwaitAudit(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: await-audit N")
	}
	n, err := strconv.Atoi(args[0])
	ts.Check(err)
	c := adminClient(ts)
	deadline := time.Now().Add(waitFor)
	for {
		l, err := c.Audit(context.Background(), client.AuditQuery{})
		ts.Check(err)
		if len(l.Entries) >= n {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%d audit entries, want %d", len(l.Entries), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// mint-token VAR SCOPES: set VAR to an admin token with those scopes.
func cmdMintToken(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: mint-token VAR SCOPES")
	}
	out, err := exec.Command(ts.Getenv("WSD"), "token", "create", "--subject", "intern", "--scope", args[1],
		"--state-dir", ts.MkAbs("state")).Output()
	ts.Check(err)
	ts.Setenv(args[0], strings.TrimSpace(string(out)))
}

// wsctl-code N ARGS...: run wsctl in-process and check its exit code; its
// output becomes stdout and stderr.
func cmdWsctlCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: wsctl-code N ARGS...")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	code := run(context.Background(), args[1:], env{stdin: strings.NewReader(""), stdout: ts.Stdout(), stderr: ts.Stderr(), getenv: ts.Getenv})
	if code != want {
		ts.Fatalf("wsctl %v: exit %d, want %d", args[1:], code, want)
	}
}

// wsctl-stdin FILE N ARGS...: like wsctl-code, with stdin opened on FILE
// (such as /dev/null: a character device that is not a terminal).
func cmdWsctlStdin(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: wsctl-stdin FILE N ARGS...")
	}
	f, err := os.Open(args[0])
	ts.Check(err)
	defer f.Close()
	want, err := strconv.Atoi(args[1])
	ts.Check(err)
	code := run(context.Background(), args[2:], env{stdin: f, stdout: ts.Stdout(), stderr: ts.Stderr(), getenv: ts.Getenv})
	if code != want {
		ts.Fatalf("wsctl %v <%s: exit %d, want %d", args[2:], args[0], code, want)
	}
}

// unique-prefix VAR ID OTHER...: set VAR to the shortest prefix of ID, at
// least 4 characters, that starts none of the OTHER ids.
func cmdUniquePrefix(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: unique-prefix VAR ID OTHER...")
	}
	id := args[1]
	for n := 4; n <= len(id); n++ {
		p := id[:n]
		if !slices.ContainsFunc(args[2:], func(o string) bool { return strings.HasPrefix(o, p) }) {
			ts.Setenv(args[0], p)
			return
		}
	}
	ts.Fatalf("no unique prefix of %s", id)
}

// common-prefix VAR ID...: set VAR to the longest prefix the ids share;
// it must be at least 4 characters.
func cmdCommonPrefix(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 {
		ts.Fatalf("usage: common-prefix VAR ID ID...")
	}
	p := args[1]
	for _, id := range args[2:] {
		for !strings.HasPrefix(id, p) {
			p = p[:len(p)-1]
		}
	}
	if len(p) < 4 {
		ts.Fatalf("the ids share only %q", p)
	}
	ts.Setenv(args[0], p)
}

// apiTakesParam reports whether the admin API takes the query parameter
// PARAM on GET PATH: an unknown parameter is a 400 that names it.
func apiTakesParam(ts *testscript.TestScript, path, param string) bool {
	req, err := http.NewRequest(http.MethodGet, ts.Getenv("WSCTL_SERVER")+path+"?"+param+"=127.0.0.1", nil)
	ts.Check(err)
	req.Header.Set("Authorization", "Bearer "+ts.Getenv("WSCTL_TOKEN"))
	resp, err := http.DefaultClient.Do(req)
	ts.Check(err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	ts.Check(err)
	return resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "unknown query parameter")
}

// probedParams records which admin API query parameters the wsd binary
// under test takes ("PATH PARAM" → taken), for the condition
// [param:PATH:PARAM]. Every script runs the same binary, so one record
// serves them all; the probe-param command fills it.
var probedParams sync.Map

// probe-param PATH PARAM: find out whether the admin API takes PARAM on
// GET PATH, for [param:PATH:PARAM] (features another change adds to the
// server).
func cmdProbeParam(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: probe-param PATH PARAM")
	}
	probedParams.Store(args[0]+" "+args[1], apiTakesParam(ts, args[0], args[1]))
}

// condition evaluates [param:PATH:PARAM] (after probe-param PATH PARAM).
func condition(cond string) (bool, error) {
	rest, ok := strings.CutPrefix(cond, "param:")
	if !ok {
		return false, fmt.Errorf("unknown condition %q", cond)
	}
	path, param, ok := strings.Cut(rest, ":")
	if !ok {
		return false, fmt.Errorf("condition %q: want param:PATH:PARAM", cond)
	}
	v, ok := probedParams.Load(path + " " + param)
	if !ok {
		return false, fmt.Errorf("condition %q: run probe-param %s %s first", cond, path, param)
	}
	return v.(bool), nil
}

// gen-cert: write a CA (ca.pem), a certificate it signs for 127.0.0.1
// (cert.pem, key.pem) and a second CA that signed nothing (other-ca.pem)
// into $WORK, and set $TEST_CA for the tests' own admin client.
func cmdGenCert(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: gen-cert")
	}
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		ts.Check(err)
		return k
	}
	writePEM := func(name, typ string, der []byte) {
		ts.Check(os.WriteFile(ts.MkAbs(name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
	}
	now := time.Now()
	newCA := func(name string) (*x509.Certificate, *ecdsa.PrivateKey) {
		k := newKey()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
		ts.Check(err)
		c, err := x509.ParseCertificate(der)
		ts.Check(err)
		writePEM(name+".pem", "CERTIFICATE", der)
		return c, k
	}
	ca, caKey := newCA("ca")
	newCA("other-ca")
	k := newKey()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano() + 1), Subject: pkix.Name{CommonName: "wsd admin"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
	ts.Check(err)
	writePEM("cert.pem", "CERTIFICATE", der)
	kder, err := x509.MarshalECPrivateKey(k)
	ts.Check(err)
	writePEM("key.pem", "EC PRIVATE KEY", kder)
	ts.Setenv("TEST_CA", ts.MkAbs("ca.pem"))
}
