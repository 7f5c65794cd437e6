package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
)

// module is the import path of wsd's module.
const module = "github.com/wsd-dev/wsd"

// An arrow is one rule of ARCHITECTURE.md about what a package links (its
// transitive, non-test imports, as `go list -deps` reports them). Patterns
// are import paths relative to the module when they start with a letter
// and no dot in the first element ("daemon", "admin/apitype"), else full;
// a trailing "/..." also matches the path's sub-packages.
type arrow struct {
	name string   // the rule in words, as failures name it
	pkg  string   // the package the rule is about
	env  []string // added to go list's environment (GOOS, CGO_ENABLED)

	stdlibOnly bool     // links the standard library only (and itself)
	ours       []string // if set, the only packages of the module it may link
	forbid     []string // packages it must not link
	need       []string // packages it must link
	noCgo      bool     // links no package outside the standard library that has cgo files
	// importedBy, if set, lists the only packages of the module that may
	// import pkg directly.
	importedBy []string
}

// wsctlForbid is what the CLI must not link: the server and what only the
// server needs.
var wsctlForbid = []string{
	"store/...", "daemon/...", "admin", "admin/token", "tracing/...", "migrations", "cmd/wsd",
	"github.com/mattn/go-sqlite3", "github.com/golang-jwt/jwt/v5/...", "github.com/go-chi/chi/v5/...",
	"google.golang.org/grpc/...",
}

// wsctlNoCgo adds, for CGO_ENABLED=0 builds, that the runtime's cgo
// support is not linked either.
var wsctlNoCgo = append([]string{"runtime/cgo"}, wsctlForbid...)

// otelSDK is what the OpenTelemetry API's users must not link: the SDK, the
// exporters and their gRPC stack. (Protobuf itself comes with the
// Prometheus client.)
var otelSDK = []string{
	"go.opentelemetry.io/otel/sdk/...", "go.opentelemetry.io/otel/exporters/...",
	"go.opentelemetry.io/proto/...", "google.golang.org/grpc/...",
}

var arrows = []arrow{
	{name: "protocol → nothing of ours; standard library only", pkg: "protocol", stdlibOnly: true},
	{name: "session → nothing of ours; standard library only", pkg: "session", stdlibOnly: true},
	{name: "admin/apitype: standard library only", pkg: "admin/apitype", stdlibOnly: true},
	{name: "migrations: *.sql in an embed.FS, standard library only", pkg: "migrations", stdlibOnly: true},

	{name: "daemon → protocol, session, tracing (not store, admin, cluster)", pkg: "daemon",
		ours: []string{"daemon/...", "protocol", "session", "tracing"}},
	{name: "daemon links no gRPC, SQLite or NATS, and the OTel API only", pkg: "daemon",
		forbid: append([]string{"github.com/mattn/go-sqlite3", "github.com/nats-io/...", "tracing/setup"}, otelSDK...)},
	{name: "daemon speaks session's vocabulary", pkg: "daemon", need: []string{"session"}},
	{name: "daemon/internal/poller → nothing of ours", pkg: "daemon/internal/poller", ours: []string{"daemon/internal/poller"}},
	{name: "daemon/internal/bufpool → nothing of ours", pkg: "daemon/internal/bufpool", ours: []string{"daemon/internal/bufpool"}},
	{name: "daemon/internal/sender → protocol, bufpool (never a daemon type)", pkg: "daemon/internal/sender",
		ours: []string{"daemon/internal/sender", "daemon/internal/bufpool", "protocol"}},

	{name: "admin → apitype, token, session, tracing API; links no store, SQLite or daemon internals", pkg: "admin",
		forbid: append([]string{"store/...", "github.com/mattn/go-sqlite3", "daemon/internal/...", "tracing/setup", "migrations"}, otelSDK...)},
	{name: "admin links no daemon: its Hub is declared in session's types", pkg: "admin", forbid: []string{"daemon/..."}},
	{name: "admin/client → apitype", pkg: "admin/client", ours: []string{"admin/client", "admin/apitype"}, noCgo: true},

	{name: "store → migrations, session", pkg: "store", ours: []string{"store/...", "migrations", "session"}},

	{name: "tracing: OTel API only (no SDK, OTLP or gRPC), nothing of ours", pkg: "tracing",
		ours: []string{"tracing"}, forbid: append([]string{"google.golang.org/protobuf/..."}, otelSDK...)},
	{name: "tracing/setup is used by cmd/wsd alone", pkg: "tracing/setup", importedBy: []string{"cmd/wsd"}},

	// cluster implements the interfaces admin and daemon declare, so that
	// neither imports NATS.
	{name: "cluster → session, apitype, NATS", pkg: "cluster", ours: []string{"cluster/...", "session", "admin/apitype"}},
	{name: "cluster links no daemon, store or admin server", pkg: "cluster", forbid: []string{"daemon/...", "store/...", "admin", "github.com/mattn/go-sqlite3"}},
	{name: "admin links no NATS", pkg: "admin", forbid: []string{"github.com/nats-io/...", "cluster/..."}},

	{name: "internal/loadgen → protocol", pkg: "internal/loadgen", ours: []string{"internal/loadgen", "protocol"}, noCgo: true},

	{name: "wsctl links no server, store, daemon, go-sqlite3 or cgo", pkg: "cmd/wsctl", forbid: wsctlForbid, noCgo: true},
	{name: "wsctl builds with CGO_ENABLED=0 for linux", pkg: "cmd/wsctl", env: []string{"CGO_ENABLED=0", "GOOS=linux"}, forbid: wsctlNoCgo},
	{name: "wsctl builds with CGO_ENABLED=0 for darwin", pkg: "cmd/wsctl", env: []string{"CGO_ENABLED=0", "GOOS=darwin"}, forbid: wsctlNoCgo},
	{name: "wsctl builds with CGO_ENABLED=0 for windows", pkg: "cmd/wsctl", env: []string{"CGO_ENABLED=0", "GOOS=windows"}, forbid: wsctlNoCgo},
}

func TestArrows(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatalf("go list needs the go command: %v", err)
	}
	l := &lister{cache: map[string]*listing{}}
	for _, a := range arrows {
		t.Run(a.name, func(t *testing.T) {
			t.Parallel()
			if a.importedBy != nil {
				checkImporters(t, l, a)
				return
			}
			g, err := l.deps(full(a.pkg), a.env)
			if err != nil {
				t.Fatalf("%s: %v", a.name, err)
			}
			for _, v := range violations(a, g) {
				t.Errorf("arrow %q broken: %s", a.name, v)
			}
		})
	}
}

// violations returns one line per package that breaks a, with the import
// chain that links it. A package linked only through another one that
// breaks a is not repeated.
func violations(a arrow, g *listing) []string {
	root := full(a.pkg)
	why := map[string]string{}
	for _, p := range g.pkgs {
		if p.ImportPath == root {
			continue
		}
		ours := p.ImportPath == module || strings.HasPrefix(p.ImportPath, module+"/")
		switch {
		case a.stdlibOnly && !p.Standard:
			why[p.ImportPath] = ", which is not in the standard library"
		case a.ours != nil && ours && !matchAny(a.ours, p.ImportPath):
			why[p.ImportPath] = ", which is not among " + strings.Join(a.ours, ", ")
		case matchAny(a.forbid, p.ImportPath):
			why[p.ImportPath] = ""
		case a.noCgo && !p.Standard && len(p.CgoFiles) > 0:
			why[p.ImportPath] = ", which uses cgo"
		}
	}
	var out []string
	for _, p := range g.pkgs {
		w, ok := why[p.ImportPath]
		if !ok {
			continue
		}
		chain := g.chain(root, p.ImportPath)
		if slices.ContainsFunc(chain[1:len(chain)-1], func(q string) bool { _, bad := why[q]; return bad }) {
			continue
		}
		for i := range chain {
			chain[i] = strings.TrimPrefix(chain[i], module+"/")
		}
		out = append(out, fmt.Sprintf("%s links %s%s: %s", root, p.ImportPath, w, strings.Join(chain, " → ")))
	}
	for _, n := range a.need {
		if !slices.ContainsFunc(g.pkgs, func(p *pkg) bool { return match(n, p.ImportPath) }) {
			out = append(out, fmt.Sprintf("%s does not link %s", root, full(n)))
		}
	}
	if len(g.pkgs) < 2 {
		out = append(out, fmt.Sprintf("go list found %d packages for %s: suspiciously few", len(g.pkgs), root))
	}
	return out
}

// checkImporters checks a.importedBy: the only packages of the module that
// import a.pkg directly.
func checkImporters(t *testing.T, l *lister, a arrow) {
	all, err := l.deps(module+"/...", nil)
	if err != nil {
		t.Fatalf("%s: %v", a.name, err)
	}
	target := full(a.pkg)
	for _, p := range all.pkgs {
		if slices.Contains(p.Imports, target) && !matchAny(a.importedBy, p.ImportPath) {
			t.Errorf("arrow %q broken: %s imports %s", a.name, p.ImportPath, target)
		}
	}
	if all.byPath[target] == nil {
		t.Errorf("arrow %q: no package %s", a.name, target)
	}
}

// full turns a pattern relative to the module into an import path.
func full(pattern string) string {
	first, _, _ := strings.Cut(pattern, "/")
	if strings.Contains(first, ".") || pattern == "runtime/cgo" {
		return pattern
	}
	return module + "/" + pattern
}

// match reports whether import path p matches pattern (see arrow).
func match(pattern, p string) bool {
	pattern = full(pattern)
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return p == base || strings.HasPrefix(p, base+"/")
	}
	return p == pattern
}

func matchAny(patterns []string, p string) bool {
	return slices.ContainsFunc(patterns, func(pat string) bool { return match(pat, p) })
}

// pkg is what go list tells of a package.
type pkg struct {
	ImportPath string
	Standard   bool
	Imports    []string
	CgoFiles   []string
}

// listing is the output of one go list: packages in its order, by path.
type listing struct {
	pkgs   []*pkg
	byPath map[string]*pkg
}

// chain returns the shortest import chain from one package to another, or
// just the two when no chain is found.
func (g *listing) chain(from, to string) []string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if cur == to {
			var path []string
			for p := to; p != ""; p = prev[p] {
				path = append(path, p)
			}
			slices.Reverse(path)
			return path
		}
		if p := g.byPath[cur]; p != nil {
			for _, imp := range p.Imports {
				if _, seen := prev[imp]; !seen {
					prev[imp] = cur
					queue = append(queue, imp)
				}
			}
		}
	}
	return []string{from, "…", to}
}

// lister runs go list, once per package and environment.
type lister struct {
	mu    sync.Mutex
	cache map[string]*listing
	errs  map[string]error
}

func (l *lister) deps(target string, env []string) (*listing, error) {
	key := target + " " + strings.Join(env, " ")
	l.mu.Lock()
	defer l.mu.Unlock() // one go list at a time: the machine is shared
	if g, ok := l.cache[key]; ok {
		return g, nil
	}
	if err, ok := l.errs[key]; ok {
		return nil, err
	}
	g, err := goList(target, env)
	if err != nil {
		if l.errs == nil {
			l.errs = map[string]error{}
		}
		l.errs[key] = err
		return nil, err
	}
	l.cache[key] = g
	return g, nil
}

func goList(target string, env []string) (*listing, error) {
	args := []string{"list", "-deps", "-json=ImportPath,Standard,Imports,CgoFiles", target}
	if strings.HasSuffix(target, "/...") {
		args = []string{"list", "-json=ImportPath,Imports", target}
	}
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s go %s: %w\n%s", strings.Join(env, " "), strings.Join(args, " "), err, stderr.Bytes())
	}
	g := &listing{byPath: map[string]*pkg{}}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		p := new(pkg)
		if err := dec.Decode(p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("go list output: %w", err)
		}
		g.pkgs = append(g.pkgs, p)
		g.byPath[p.ImportPath] = p
	}
	return g, nil
}
