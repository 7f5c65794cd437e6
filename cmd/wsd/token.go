package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/admin/token"
)

// tokenFlags are the flags of `wsd token create` itself; every other flag
// (and WSD_* variable, and the config file) is wsd's, so that the token is
// minted with the key, issuer and audience the daemon uses.
type tokenFlags struct {
	subject string
	scope   string
	ttl     time.Duration
	client  bool
	labels  labelList
	out     string
}

func (t *tokenFlags) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("wsd token create", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&t.subject, "subject", "", "who the token is for: the audit log's subject (admin) or the connection's user (client)")
	fs.StringVar(&t.scope, "scope", "", "admin scopes, comma-separated: "+strings.Join(scopes, ", "))
	fs.DurationVar(&t.ttl, "ttl", 24*time.Hour, "lifetime of the token")
	fs.BoolVar(&t.client, "client", false, "mint a client token (--client-auth=jwt) instead of an admin token")
	fs.Var(&t.labels, "label", "client token label KEY=VALUE; repeatable")
	fs.StringVar(&t.out, "out", "", "write the token to this file (mode 0600) instead of standard output")
	return fs
}

var scopes = []string{apitype.ScopeConnectionsRead, apitype.ScopeConnectionsWrite, apitype.ScopeConnectionsClose,
	apitype.ScopeSessionsRead, apitype.ScopeAuditRead, apitype.ScopeConnectionsTap, apitype.ScopeAdmin}

// tokenCommand runs `wsd token create`: it prints a token signed with the
// admin key of the state directory (or --admin-key-file). It never creates
// a key: a token signed by a key the daemon does not have would be refused.
func tokenCommand(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprintln(stderr, "usage: wsd token create --subject NAME --scope SCOPES [--ttl DURATION] [--client [--label K=V]...] [wsd flags such as --state-dir]")
		return exitUsage
	}
	var tf tokenFlags
	fs := tf.flagSet()
	own, rest := splitFlags(args[1:], fs)
	if err := fs.Parse(own); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return exitOK
		}
		fmt.Fprintf(stderr, "wsd token create: %v\n", err)
		return exitUsage
	}
	cfg, err := loadConfig(rest, getenv)
	if err != nil {
		fmt.Fprintf(stderr, "wsd token create: %v\n", err)
		return exitUsage
	}
	tok, err := mint(tf, cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "wsd token create: %v\n", err)
		return exitUsage
	}
	if tf.out != "" {
		if err := writeTokenFile(tf.out, tok); err != nil {
			fmt.Fprintf(stderr, "wsd token create: %v\n", err)
			return exitError
		}
		return exitOK
	}
	fmt.Fprintln(stdout, tok)
	return exitOK
}

// writeTokenFile writes tok to path readable by its owner only, whatever
// the mode of a file already there.
func writeTokenFile(path, tok string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		return errors.Join(fmt.Errorf("--out: %w", err), f.Close())
	}
	if _, err := fmt.Fprintln(f, tok); err != nil {
		return errors.Join(fmt.Errorf("--out: %w", err), f.Close())
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	return nil
}

func mint(tf tokenFlags, cfg config, stderr io.Writer) (string, error) {
	if tf.subject == "" {
		return "", errors.New("--subject is required")
	}
	if tf.ttl <= 0 {
		return "", fmt.Errorf("--ttl %v must be positive", tf.ttl)
	}
	o := token.MintOptions{Subject: tf.subject, Issuer: cfg.auth.issuer, TTL: tf.ttl}
	if tf.client {
		if tf.scope != "" {
			return "", errors.New("--scope is for admin tokens; a client token carries --label")
		}
		o.Audience, o.Labels = cfg.auth.clientAudience, tf.labels
	} else {
		if len(tf.labels) > 0 {
			return "", errors.New("--label is for client tokens (--client)")
		}
		sc, err := parseScopes(tf.scope)
		if err != nil {
			return "", err
		}
		o.Audience, o.Scopes = cfg.auth.audience, sc
	}
	_, signer, err := adminKeys(cfg.auth, cfg.stateDir, false, nil)
	if errors.Is(err, fs.ErrNotExist) && cfg.auth.adminKeyFile == "" {
		return "", fmt.Errorf("no admin key in %s (looked for %s): wsd generates it at its first start, so start wsd once with this --state-dir, or pass the running daemon's (a systemd install: --state-dir /var/lib/wsd)",
			cfg.stateDir, filepath.Join(cfg.stateDir, adminKeyName))
	}
	if err != nil {
		return "", err
	}
	if signer == nil {
		return "", fmt.Errorf("--admin-key-file %s holds no private key: mint tokens where the key is", cfg.auth.adminKeyFile)
	}
	return signer.Mint(o)
}

// parseScopes checks a comma- or space-separated list of admin scopes.
func parseScopes(s string) ([]string, error) {
	var out []string
	for f := range strings.FieldsFuncSeq(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		if !slices.Contains(scopes, f) {
			return nil, fmt.Errorf("--scope: unknown scope %q (known: %s)", f, strings.Join(scopes, ", "))
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--scope is required (known: %s)", strings.Join(scopes, ", "))
	}
	return out, nil
}

// splitFlags separates the flags fs defines (with their values) from the
// others.
func splitFlags(args []string, fs *flag.FlagSet) (own, rest []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		name := strings.TrimLeft(a, "-")
		name, _, hasValue := strings.Cut(name, "=")
		f := fs.Lookup(name)
		if !strings.HasPrefix(a, "-") || f == nil {
			if name == "h" || name == "help" {
				own = append(own, a)
				continue
			}
			rest = append(rest, a)
			continue
		}
		own = append(own, a)
		_, isBool := f.Value.(interface{ IsBoolFlag() bool })
		if !hasValue && !isBool && i+1 < len(args) {
			i++
			own = append(own, args[i])
		}
	}
	return own, rest
}

// labelList is a repeatable KEY=VALUE flag.
type labelList map[string]string

func (l *labelList) String() string {
	if l == nil {
		return ""
	}
	var s []string
	for k, v := range *l {
		s = append(s, k+"="+v)
	}
	slices.Sort(s)
	return strings.Join(s, ",")
}

func (l *labelList) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q: want KEY=VALUE", v)
	}
	if *l == nil {
		*l = labelList{}
	}
	(*l)[k] = val
	return nil
}
