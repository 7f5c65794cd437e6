package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"reflect"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/wsd-dev/wsd/admin"
	"github.com/wsd-dev/wsd/admin/token"
	"github.com/wsd-dev/wsd/admin/ui"
	"github.com/wsd-dev/wsd/daemon"
)

// adminKeyName is the file, in the state directory, of the Ed25519 key
// generated at first start when no --admin-key-file is given.
const adminKeyName = "admin.key"

// authConfig configures the admin API and token verification (PRODUCT.md
// §4, §5).
type authConfig struct {
	adminKeyFile         string
	clientAuth           string
	clientKeyFile        string
	issuer               string
	audience             string
	clientAudience       string
	leeway               time.Duration
	bulkConfirmThreshold int
	allowedHosts         []string
}

func (a *authConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&a.adminKeyFile, "admin-key-file", "", "verification keys of admin tokens minted elsewhere: PEM public keys or a JWK Set (default: an Ed25519 key generated in the state directory)")
	fs.StringVar(&a.clientAuth, "client-auth", "none", "client authentication at the upgrade: none, or jwt (a token from Authorization: Bearer, ?access_token= or a bearer.TOKEN subprotocol entry)")
	fs.StringVar(&a.clientKeyFile, "client-key-file", "", "verification keys of client tokens (PEM or JWK Set; default: the admin keys)")
	fs.StringVar(&a.issuer, "token-issuer", token.DefaultIssuer, "required iss of admin and client tokens")
	fs.StringVar(&a.audience, "token-audience", token.DefaultAdminAudience, "required aud of admin tokens")
	fs.StringVar(&a.clientAudience, "client-token-audience", token.DefaultClientAudience, "required aud of client tokens")
	fs.DurationVar(&a.leeway, "token-leeway", token.DefaultLeeway, "clock skew allowed on the exp, nbf and iat of tokens; a client connection is closed with 4401 at exp plus this")
	fs.IntVar(&a.bulkConfirmThreshold, "bulk-confirm-threshold", admin.DefaultBulkConfirmThreshold, "a bulk close matching more connections than this must be confirmed with the match count (-1: never)")
	fs.Var((*listValue)(&a.allowedHosts), "admin-allowed-hosts", "host names accepted in the admin listener's Host header besides IP addresses and localhost, comma-separated")
}

func (a authConfig) validate() error {
	if a.clientAuth != "none" && a.clientAuth != "jwt" {
		return fmt.Errorf("--client-auth: %q: want none or jwt", a.clientAuth)
	}
	if a.clientKeyFile != "" && a.clientAuth != "jwt" {
		return errors.New("--client-key-file: needs --client-auth=jwt")
	}
	if a.issuer == "" || a.audience == "" || a.clientAudience == "" {
		return errors.New("--token-issuer, --token-audience and --client-token-audience may not be empty")
	}
	if a.audience == a.clientAudience {
		return errors.New("--token-audience and --client-token-audience must differ, or a client token would open the admin API")
	}
	if a.leeway < 0 || a.leeway > 5*time.Minute {
		return fmt.Errorf("--token-leeway: %v: want 0 to 5m", a.leeway)
	}
	if a.bulkConfirmThreshold < -1 {
		return fmt.Errorf("--bulk-confirm-threshold: %d: want -1 (never) or more", a.bulkConfirmThreshold)
	}
	return nil
}

// adminKeys returns the admin verification keys and, when wsd holds the
// private key, the signer: the key file's, or the state directory's key.
// With create (at start) that key is generated when it does not exist yet;
// without it (a reload) a missing key is an error, never a new key that
// would silently invalidate every token.
func adminKeys(a authConfig, stateDir string, create bool, log *slog.Logger) ([]token.Key, *token.Signer, error) {
	if a.adminKeyFile != "" {
		return token.LoadKeyFile(a.adminKeyFile)
	}
	path := filepath.Join(stateDir, adminKeyName)
	if !create {
		s, err := token.LoadSigner(path)
		if err != nil {
			return nil, nil, err
		}
		return []token.Key{s.Key()}, &s, nil
	}
	s, created, err := token.LoadOrCreateKey(path)
	if err != nil {
		return nil, nil, err
	}
	if created && log != nil {
		log.Info("generated the admin token key; mint tokens with `wsd token create`", "path", path)
	}
	return []token.Key{s.Key()}, &s, nil
}

// authKeys are the verification keys of admin and client tokens; client is
// nil without --client-auth=jwt.
type authKeys struct{ admin, client []token.Key }

// loadAuthKeys reads the keys a's files hold (see adminKeys for create) and
// checks them, so that a verifier will accept them.
func loadAuthKeys(a authConfig, stateDir string, create bool, log *slog.Logger) (authKeys, error) {
	var k authKeys
	var err error
	if k.admin, _, err = adminKeys(a, stateDir, create, log); err != nil {
		return authKeys{}, err
	}
	if err := token.CheckKeys(k.admin); err != nil {
		return authKeys{}, fmt.Errorf("admin keys: %w", err)
	}
	if a.clientAuth != "jwt" {
		return k, nil
	}
	k.client = k.admin
	if a.clientKeyFile != "" {
		if k.client, _, err = token.LoadKeyFile(a.clientKeyFile); err != nil {
			return authKeys{}, fmt.Errorf("--client-key-file: %w", err)
		}
		if err := token.CheckKeys(k.client); err != nil {
			return authKeys{}, fmt.Errorf("--client-key-file: %w", err)
		}
	}
	return k, nil
}

// auth holds the verifiers built at start. SIGHUP gives them the keys the
// key files hold by then (setKeys), so keys rotate without a restart.
type auth struct {
	admin   *token.Verifier
	clientV *token.Verifier      // nil without --client-auth=jwt
	client  daemon.Authenticator // over clientV; nil without it
}

func newAuth(cfg config, log *slog.Logger) (auth, error) {
	a := cfg.auth
	keys, err := loadAuthKeys(a, cfg.stateDir, true, log)
	if err != nil {
		return auth{}, err
	}
	leeway := a.leeway
	if leeway == 0 {
		leeway = -1 // none (the verifier's zero means its default)
	}
	var out auth
	out.admin, err = token.NewVerifier(token.VerifierConfig{Keys: keys.admin, Issuer: a.issuer, Audience: a.audience, Leeway: leeway})
	if err != nil {
		return auth{}, err
	}
	if keys.client != nil {
		out.clientV, err = token.NewVerifier(token.VerifierConfig{Keys: keys.client, Issuer: a.issuer, Audience: a.clientAudience, Leeway: leeway})
		if err != nil {
			return auth{}, err
		}
		out.client = clientAuthenticator{v: out.clientV}
	}
	return out, nil
}

// setKeys gives the verifiers keys (checked by loadAuthKeys) and reports
// whether any changed.
func (x auth) setKeys(k authKeys) (bool, error) {
	changed := false
	for _, vk := range []struct {
		v    *token.Verifier
		keys []token.Key
	}{{x.admin, k.admin}, {x.clientV, k.client}} {
		if vk.v == nil || vk.keys == nil {
			continue
		}
		if reflect.DeepEqual(vk.v.Keys(), vk.keys) {
			continue
		}
		if err := vk.v.SetKeys(vk.keys); err != nil {
			return changed, err
		}
		changed = true
	}
	return changed, nil
}

// newAdminAPI returns the admin listener's handler: the admin API under
// /v1 and health under it, and the API to shut down with the listener.
// local is this node's daemon, which the API cordons and drains.
// Every route is behind the API's guard (Host, Origin, head size).
func newAdminAPI(cfg config, hub admin.Hub, local admin.Node, hist admin.History, node, address string, a auth, health http.Handler, tp trace.TracerProvider, log *slog.Logger) (http.Handler, *admin.Server, error) {
	acfg := admin.DefaultConfig()
	acfg.BulkConfirmThreshold = cfg.auth.bulkConfirmThreshold
	acfg.AllowedHosts = cfg.auth.allowedHosts
	acfg.CloseWait = 2*cfg.daemon.CloseTimeout + time.Second
	acfg.Version = buildVersion()
	acfg.Node, acfg.Address = node, address
	acfg.TraceURL = cfg.traceURL
	api, err := admin.New(acfg, admin.Deps{Hub: hub, Node: local, History: hist, Tokens: a.admin, Logger: log, TracerProvider: tp})
	if err != nil {
		return nil, nil, err
	}
	console, err := ui.NewHandler()
	if err != nil {
		return nil, nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/", api)
	// The web console (PRODUCT.md §11); /ui redirects to /ui/.
	mux.Handle("/ui/", api.Guard(console))
	mux.Handle("/ui", api.Guard(console))
	mux.Handle("/", api.Guard(health)) // the Host and Origin checks of /v1
	return mux, api, nil
}
