package token

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxTokenBytes bounds the tokens Verify parses; anything longer is refused
// at once (a wsd token is about 300 bytes; CVE-2025-30204 was a parser fed
// megabytes of dots).
const MaxTokenBytes = 8 << 10

// DefaultLeeway is the clock skew allowed on exp, nbf and iat.
const DefaultLeeway = 30 * time.Second

// Errors of Verify. Every error it returns wraps ErrInvalid.
var (
	ErrInvalid   = errors.New("invalid token")
	ErrMalformed = errors.New("malformed token")
	ErrNoKey     = errors.New("no key for this token")
)

// Refusals made before parsing, allocated once: refusing costs nothing.
var (
	errTooLong = fmt.Errorf("%w: %w: longer than %d bytes", ErrInvalid, ErrMalformed, MaxTokenBytes)
	errNotJWS  = fmt.Errorf("%w: %w: not a JWS compact serialization", ErrInvalid, ErrMalformed)
)

// VerifierConfig configures a Verifier.
type VerifierConfig struct {
	Keys     []Key
	Issuer   string        // required "iss"; default DefaultIssuer
	Audience string        // required among "aud"
	Leeway   time.Duration // 0: DefaultLeeway; negative: none
	// Now is the clock (tests); nil: time.Now.
	Now func() time.Time
}

// Verifier checks tokens against a set of keys. It is safe for concurrent
// use; SetKeys replaces the keys atomically.
type Verifier struct {
	cfg  VerifierConfig
	keys atomic.Pointer[[]Key]
}

// NewVerifier returns a verifier; it needs at least one key and an
// audience.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if cfg.Audience == "" {
		return nil, errors.New("verifier: an audience is required")
	}
	if cfg.Issuer == "" {
		cfg.Issuer = DefaultIssuer
	}
	switch {
	case cfg.Leeway == 0:
		cfg.Leeway = DefaultLeeway
	case cfg.Leeway < 0:
		cfg.Leeway = 0
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	v := &Verifier{cfg: cfg}
	if err := v.SetKeys(cfg.Keys); err != nil {
		return nil, err
	}
	return v, nil
}

// SetKeys replaces the verification keys. Tokens verified after it
// returns are checked against the new keys only; on error the old keys
// stay.
func (v *Verifier) SetKeys(keys []Key) error {
	if err := CheckKeys(keys); err != nil {
		return err
	}
	ks := append([]Key(nil), keys...)
	v.keys.Store(&ks)
	return nil
}

// Keys returns the verification keys in use.
func (v *Verifier) Keys() []Key { return append([]Key(nil), *v.keys.Load()...) }

// CheckKeys reports whether SetKeys would accept keys: at least one, each
// pinned to the algorithm of its type.
func CheckKeys(keys []Key) error {
	if len(keys) == 0 {
		return errors.New("verifier: at least one key is required")
	}
	for _, k := range keys {
		want, err := keyForPublic(k.ID, k.Public)
		if err != nil {
			return fmt.Errorf("verifier: %w", err)
		}
		if want.Alg != k.Alg {
			return fmt.Errorf("verifier: key %q pinned to %s, but it is a %s key", k.ID, k.Alg, want.Alg)
		}
	}
	return nil
}

// Leeway returns the clock skew allowed.
func (v *Verifier) Leeway() time.Duration { return v.cfg.Leeway }

// Verify checks a token's size, shape, algorithm, signature and claims
// (exp required; iss and aud; nbf and iat not in the future), in that
// order, and returns its claims. A token with a bad signature is reported
// as such even when it has also expired (CVE-2024-51744).
func (v *Verifier) Verify(raw string) (*Claims, error) {
	if len(raw) > MaxTokenBytes {
		return nil, errTooLong
	}
	if strings.Count(raw, ".") != 2 {
		return nil, errNotJWS
	}
	keys := *v.keys.Load()
	algs := make([]string, 0, 3)
	for _, k := range keys {
		if !slices.Contains(algs, k.Alg) {
			algs = append(algs, k.Alg)
		}
	}
	p := jwt.NewParser(
		jwt.WithValidMethods(algs),
		jwt.WithExpirationRequired(),
		jwt.WithIssuer(v.cfg.Issuer),
		jwt.WithAudience(v.cfg.Audience),
		jwt.WithLeeway(v.cfg.Leeway),
		jwt.WithIssuedAt(),
		jwt.WithStrictDecoding(),
		jwt.WithTimeFunc(v.cfg.Now),
	)
	var claims Claims
	tok, err := p.ParseWithClaims(raw, &claims, func(t *jwt.Token) (any, error) {
		return keysFor(keys, t)
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalid, reason(err))
	}
	if !tok.Valid {
		return nil, ErrInvalid
	}
	if typ, ok := tok.Header["typ"]; ok {
		if s, _ := typ.(string); !strings.EqualFold(s, "JWT") {
			return nil, fmt.Errorf("%w: typ %v is not JWT", ErrInvalid, typ)
		}
	}
	if claims.Subject == "" {
		return nil, fmt.Errorf("%w: no subject", ErrInvalid)
	}
	return &claims, nil
}

// keysFor returns the keys that may verify t: those pinned to its
// algorithm and, when it names one, with its key id.
func keysFor(keys []Key, t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	kid, hasKid := t.Header["kid"]
	var set jwt.VerificationKeySet
	for _, k := range keys {
		if k.Alg != alg {
			continue
		}
		if hasKid && k.ID != "" && kid != k.ID {
			continue
		}
		set.Keys = append(set.Keys, k.Public)
	}
	if len(set.Keys) == 0 {
		return nil, ErrNoKey
	}
	return set, nil
}

// reason turns a parser error into a short reason for logs and answers,
// naming the first failed check.
func reason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "bad signature or algorithm"
	case errors.Is(err, ErrNoKey):
		return "no key for this token"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "unsupported algorithm"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "required claim missing"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "not valid yet"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "issued in the future"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "wrong audience"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "wrong issuer"
	}
	return "invalid claims"
}
