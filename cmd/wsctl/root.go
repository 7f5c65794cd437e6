package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/admin/client"
)

// Exit codes.
const (
	exitOK       = 0
	exitError    = 1
	exitUsage    = 2
	exitNotFound = 3
	exitAuth     = 4
)

// env is what a run of wsctl reads and writes.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

// globals are the flags every command takes.
type globals struct {
	env
	server    string
	token     string
	tokenFile string
	ca        string
	// warnedTokenFile: the token file's mode was warned about (once a run).
	warnedTokenFile bool
	output          string
	quiet           bool
	strict          bool
	timeout         time.Duration
	// cmdPath is the command that ran ("wsctl kill"), for the help that
	// usage errors point at.
	cmdPath string
}

// errPartial ends a command whose fleet-wide answer missed nodes, under
// --strict (exit 1, after the output).
var errPartial = errors.New("partial answer: some nodes did not answer (--strict)")

// partial warns on stderr when a fleet-wide answer lacks nodes (it is
// printed all the same: a short list is never silent) and, under --strict,
// returns errPartial.
func (g *globals) partial(f apitype.Fleet) error {
	if !f.Partial {
		return nil
	}
	fmt.Fprintf(g.stderr, "wsctl: warning: partial answer: nodes not answering: %s\n", missingNodes(f.MissingNodes))
	if g.strict {
		return errPartial
	}
	return nil
}

// usageError marks an error of the command line (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// run is main without the exit, for tests.
func run(ctx context.Context, args []string, e env) int {
	g := &globals{env: e}
	root := newRoot(g)
	root.SetArgs(args)
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if cmd != nil {
		g.cmdPath = cmd.CommandPath()
	}
	if err == nil {
		return exitOK
	}
	code, msg := describe(err, g)
	fmt.Fprintln(e.stderr, "wsctl: "+msg)
	return code
}

func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:           "wsctl",
		Short:         "Operate wsd's live WebSocket connections and query their history",
		Long:          "wsctl drives wsd's admin API: list, inspect, send to, broadcast to and kill live connections,\nquery session history and the audit log, and watch connects and closes as they happen.\n\nThe server and token come from --server and --token, else WSCTL_SERVER and WSCTL_TOKEN,\nelse the token file (--token-file, WSCTL_TOKEN_FILE, default " + defaultTokenFile("$XDG_CONFIG_HOME") + ").\nMint a token with: wsd token create --subject NAME --scope admin",
		Version:       version(),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if formats := outputFormats(cmd); !slices.Contains(formats, g.output) {
				return usagef("-o %q: want %s or %s", g.output, strings.Join(formats[:len(formats)-1], ", "), formats[len(formats)-1])
			}
			return nil
		},
	}
	root.SetVersionTemplate("wsctl {{.Version}}\n")
	f := root.PersistentFlags()
	f.StringVar(&g.server, "server", "", "admin API address (default $WSCTL_SERVER, else "+client.DefaultServer+")")
	f.StringVar(&g.token, "token", "", "admin token (default $WSCTL_TOKEN, else the token file)")
	f.StringVar(&g.tokenFile, "token-file", "", "file holding the admin token (default $WSCTL_TOKEN_FILE, else "+defaultTokenFile("$XDG_CONFIG_HOME")+")")
	f.StringVar(&g.ca, "ca", "", "PEM file of the CA certificate(s) that verify an https admin listener (default $WSCTL_CA, else the system's)")
	f.StringVarP(&g.output, "output", "o", "table", "output format: table, wide or json (sessions also csv or ndjson)")
	f.BoolVarP(&g.quiet, "quiet", "q", false, "print ids only")
	f.BoolVar(&g.strict, "strict", false, "exit 1 when a fleet-wide answer is partial (a node did not answer)")
	f.DurationVar(&g.timeout, "timeout", 30*time.Second, "time allowed for each call to the admin API")
	if err := root.RegisterFlagCompletionFunc("output", completeOutput); err != nil {
		panic(err) // the flag is defined just above
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newLs(g), newInspect(g), newSend(g), newBroadcast(g), newKill(g), newSessions(g),
		newSession(g), newWatch(g), newStats(g), newAudit(g), newConnect(g), newBench(g), newVersion(g))
	root.AddCommand(newNodes(g))
	root.AddCommand(newCordon(g), newUncordon(g), newDrain(g), newWhy(g), newTrace(g), newTail(g))
	return root
}

// client returns the admin API client of the flags and environment.
func (g *globals) client() (*client.Client, error) {
	server := g.serverURL()
	tok := firstOf(g.token, g.getenv("WSCTL_TOKEN"))
	if tok == "" {
		path := firstOf(g.tokenFile, g.getenv("WSCTL_TOKEN_FILE"))
		explicit := path != ""
		if !explicit {
			path = defaultTokenFile(g.getenv("XDG_CONFIG_HOME"))
		}
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			tok = strings.TrimSpace(string(b))
			g.checkTokenFile(path)
		case explicit || !errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("token file: %w", err)
		}
	}
	opts := &client.Options{UserAgent: "wsctl/" + version()}
	if ca := firstOf(g.ca, g.getenv("WSCTL_CA")); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, usageError{fmt.Errorf("--ca: %w", err)}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usagef("--ca %s: no PEM certificate in it", ca)
		}
		opts.TLSConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	c, err := client.New(server, tok, opts)
	if err != nil {
		return nil, usageError{err}
	}
	return c, nil
}

// checkTokenFile warns, once a run, when the token file may be read (or
// written) by its group or others: the token is a credential.
func (g *globals) checkTokenFile(path string) {
	if g.warnedTokenFile || runtime.GOOS == "windows" {
		return
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o077 == 0 {
		return
	}
	g.warnedTokenFile = true
	fmt.Fprintf(g.stderr, "wsctl: warning: token file %s is accessible to group or others (mode %04o); restrict it: chmod 600 %s\n", path, fi.Mode().Perm(), path)
}

// call returns a context bounded by --timeout.
func (g *globals) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, g.timeout)
}

// do runs fn with a client of the admin API and a context bounded by
// --timeout: the body of most commands.
func (g *globals) do(cmd *cobra.Command, fn func(ctx context.Context, c *client.Client) error) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	ctx, cancel := g.call(cmd.Context())
	defer cancel()
	return fn(ctx, c)
}

func defaultTokenFile(configHome string) string {
	if configHome == "" {
		if home, err := os.UserHomeDir(); err == nil {
			configHome = filepath.Join(home, ".config")
		}
	}
	return filepath.Join(configHome, "wsctl", "token")
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// hinted is an error with advice for the operator, which describe adds
// to its line whatever the error's own line is.
type hinted struct {
	err  error
	hint string
}

func (h hinted) Error() string { return h.err.Error() + " (" + h.hint + ")" }
func (h hinted) Unwrap() error { return h.err }

// describe turns an error into its exit code and one line for the
// operator.
func describe(err error, g *globals) (int, string) {
	if h, ok := errors.AsType[hinted](err); ok {
		code, line := describe(h.err, g)
		return code, line + " (" + h.hint + ")"
	}
	var (
		nf      notFoundError
		amb     ambiguousError
		ue      usageError
		apiErr  *client.Error
		unreach *client.UnreachableError
	)
	var (
		unknownCA x509.UnknownAuthorityError
		badHost   x509.HostnameError
		invalid   x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &unknownCA):
		return exitError, fmt.Sprintf("cannot verify wsd's admin certificate at %s: it is signed by an unknown authority (pass the CA's certificate with --ca FILE or WSCTL_CA)", g.serverURL())
	case errors.As(err, &badHost):
		return exitError, fmt.Sprintf("wsd's admin certificate at %s: %v (connect by a name or address the certificate holds)", g.serverURL(), badHost)
	case errors.As(err, &invalid):
		return exitError, fmt.Sprintf("wsd's admin certificate at %s: %v", g.serverURL(), invalid)
	case errors.As(err, &nf):
		return exitNotFound, nf.Error()
	case errors.As(err, &amb):
		return exitUsage, amb.Error()
	case errors.As(err, &ue):
		return exitUsage, ue.Error() + g.seeHelp()
	case errors.As(err, &unreach):
		return exitError, unreach.Error() + " (is wsd running? set --server or WSCTL_SERVER)"
	case errors.As(err, &apiErr):
		if apiErr.WebSocketListener {
			return exitError, apiErr.Message + " (that looks like wsd's WebSocket listener; the admin API listens elsewhere (default " + strings.TrimPrefix(client.DefaultServer, "http://") + ", wsd --admin-listen): set --server or WSCTL_SERVER)"
		}
		switch apiErr.Status {
		case 401:
			return exitAuth, apiErr.Message + " (mint a token with `wsd token create`; pass it with --token, WSCTL_TOKEN or the token file)"
		case 403:
			return exitAuth, apiErr.Message
		case 404:
			return exitNotFound, apiErr.Message
		case 400:
			return exitUsage, apiErr.Message + g.seeHelp()
		}
		return exitError, apiErr.Message
	case errors.Is(err, context.DeadlineExceeded):
		return exitError, fmt.Sprintf("no answer from wsd within --timeout %v", g.timeout)
	case errors.Is(err, context.Canceled):
		return exitError, "interrupted"
	}
	if strings.HasPrefix(err.Error(), "unknown command") || strings.Contains(err.Error(), "arg(s)") {
		return exitUsage, err.Error() + g.seeHelp()
	}
	return exitError, err.Error()
}

// serverURL is the admin API address in use.
func (g *globals) serverURL() string {
	return firstOf(g.server, g.getenv("WSCTL_SERVER"), client.DefaultServer)
}

// seeHelp points at the help of the command that ran.
func (g *globals) seeHelp() string {
	return " (see " + firstOf(g.cmdPath, "wsctl") + " --help)"
}

// args validators that report usage errors.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("want %s, got %d argument(s)", what, len(args))
		}
		return nil
	}
}

func noArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	return nil
}
