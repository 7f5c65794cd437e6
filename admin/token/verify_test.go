package token

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newSigner(t testing.TB) Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return Signer{Private: priv}
}

func newVerifier(t testing.TB, keys ...Key) *Verifier {
	t.Helper()
	v, err := NewVerifier(VerifierConfig{Keys: keys, Audience: DefaultAdminAudience, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// claims returns valid admin claims; edit them per case.
func claims() jwt.MapClaims {
	return jwt.MapClaims{
		"iss":   DefaultIssuer,
		"sub":   "ops",
		"aud":   []string{DefaultAdminAudience},
		"iat":   testNow.Unix(),
		"exp":   testNow.Add(time.Hour).Unix(),
		"scope": "connections:read",
	}
}

func sign(t testing.TB, m jwt.SigningMethod, key any, c jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// raw builds a compact JWS by hand (for algorithms the library refuses to
// produce).
func raw(header, payload any, sig string) string {
	h, _ := json.Marshal(header)
	p, _ := json.Marshal(payload)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p) + "." + sig
}

// TestVerifyAttacks is the JWT attack table (reliability catalogue D1-D6):
// every token but the valid ones is refused, with the reason of the first
// failed check.
func TestVerifyAttacks(t *testing.T) {
	s := newSigner(t)
	other := newSigner(t)
	v := newVerifier(t, s.Key())
	pub := s.Private.Public().(ed25519.PublicKey)
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kid := map[string]any{"kid": s.Key().ID}
	with := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := claims()
		edit(c)
		return c
	}
	tampered := func(tok string) string {
		i := strings.LastIndexByte(tok, '.')
		sig, _ := base64.RawURLEncoding.DecodeString(tok[i+1:])
		sig[0] ^= 1
		return tok[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
	}
	expired := sign(t, jwt.SigningMethodEdDSA, s.Private, with(func(c jwt.MapClaims) { c["exp"] = testNow.Add(-time.Hour).Unix() }), kid)

	cases := []struct {
		name   string
		token  string
		reason string // "" means valid
	}{
		{"valid", sign(t, jwt.SigningMethodEdDSA, s.Private, claims(), kid), ""},
		{"valid without kid", sign(t, jwt.SigningMethodEdDSA, s.Private, claims(), nil), ""},
		{"alg none", raw(map[string]any{"alg": "none", "typ": "JWT"}, claims(), ""), "bad signature or algorithm"},
		{"alg None", raw(map[string]any{"alg": "None"}, claims(), ""), "unsupported algorithm"},
		{"alg nOnE", raw(map[string]any{"alg": "nOnE"}, claims(), ""), "unsupported algorithm"},
		{"none through the library", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(), nil), "bad signature or algorithm"},
		{"HS256 keyed with the raw public key", sign(t, jwt.SigningMethodHS256, []byte(pub), claims(), kid), "bad signature or algorithm"},
		{"HS256 keyed with the PEM public key", sign(t, jwt.SigningMethodHS256, pemBytes, claims(), kid), "bad signature or algorithm"},
		{"HS256 keyed with the DER public key", sign(t, jwt.SigningMethodHS256, der, claims(), kid), "bad signature or algorithm"},
		{"ES256 by another key", sign(t, jwt.SigningMethodES256, ecKey, claims(), kid), "bad signature or algorithm"},
		{"EdDSA by another key", sign(t, jwt.SigningMethodEdDSA, other.Private, claims(), nil), "bad signature or algorithm"},
		{"EdDSA by another key with our kid", sign(t, jwt.SigningMethodEdDSA, other.Private, claims(), kid), "bad signature or algorithm"},
		{"unknown kid", sign(t, jwt.SigningMethodEdDSA, s.Private, claims(), map[string]any{"kid": "nope"}), "no key for this token"},
		{"bad signature", tampered(sign(t, jwt.SigningMethodEdDSA, s.Private, claims(), kid)), "bad signature or algorithm"},
		{"bad signature on an expired token", tampered(expired), "bad signature or algorithm"},
		{"no exp", sign(t, jwt.SigningMethodEdDSA, s.Private, with(func(c jwt.MapClaims) { delete(c, "exp") }), kid), "required claim missing"},
		{"expired 31s ago", sign(t, jwt.SigningMethodEdDSA, s.Private, with(func(c jwt.MapClaims) { c["exp"] = testNow.Add(-31 * time.Second).Unix() }), kid), "expired"},
		{"expired 29s ago (leeway)", sign(t, jwt.SigningMethodEdDSA, s.Private, with(func(c jwt.MapClaims) { c["exp"] = testNow.Add(-29 * time.Second).Unix() }), kid), ""},
		{"expired an hour ago", expired, "expired"},
		{"nbf in 31s", sign(t, jwt.SigningMethodEdDSA, s.Private, with(func(c jwt.MapClaims) { c["nbf"] = testNow.Add(31 * time.Second).Unix() }), kid), "not valid yet"},
		{"iat in 31s", sign(t, jwt.SigningMethodEdDSA, s.Private, with(func(c jwt.MapClaims) { c["iat"] = testNow.Add(31 * time.Second).Unix() }), kid), "issued in the future"},
		{"wrong aud", sign(t, jwt.SigningMethodEdDSA, s.Private, with(func(c jwt.MapClaims) { c["aud"] = "other" }), kid), "wrong audience"},
		{"missing aud", sign(t, jwt.SigningMethodEdDSA, s.Private, with(func(c jwt.MapClaims) { delete(c, "aud") }), kid), "required claim missing"},
		{"empty aud", sign(t, jwt.SigningMethodEdDSA, s.Private, with(func(c jwt.MapClaims) { c["aud"] = []string{} }), kid), "required claim missing"},
		{"aud among others", sign(t, jwt.SigningMethodEdDSA, s.Private, with(func(c jwt.MapClaims) { c["aud"] = []string{"other", DefaultAdminAudience} }), kid), ""},
		{"client token as admin token", sign(t, jwt.SigningMethodEdDSA, s.Private, with(func(c jwt.MapClaims) { c["aud"] = DefaultClientAudience }), kid), "wrong audience"},
		{"wrong iss", sign(t, jwt.SigningMethodEdDSA, s.Private, with(func(c jwt.MapClaims) { c["iss"] = "evil" }), kid), "wrong issuer"},
		{"missing iss", sign(t, jwt.SigningMethodEdDSA, s.Private, with(func(c jwt.MapClaims) { delete(c, "iss") }), kid), "required claim missing"},
		{"typ refresh", sign(t, jwt.SigningMethodEdDSA, s.Private, claims(), map[string]any{"typ": "refresh+jwt"}), "typ"},
		{"no subject", sign(t, jwt.SigningMethodEdDSA, s.Private, with(func(c jwt.MapClaims) { delete(c, "sub") }), kid), "no subject"},
		{"exp as a string", sign(t, jwt.SigningMethodEdDSA, s.Private, with(func(c jwt.MapClaims) { c["exp"] = fmt.Sprint(testNow.Add(time.Hour).Unix()) }), kid), "malformed"},
		{"nbf as a string", sign(t, jwt.SigningMethodEdDSA, s.Private, with(func(c jwt.MapClaims) { c["nbf"] = fmt.Sprint(testNow.Unix()) }), kid), "malformed"},
		{"iat as a string", sign(t, jwt.SigningMethodEdDSA, s.Private, with(func(c jwt.MapClaims) { c["iat"] = fmt.Sprint(testNow.Unix()) }), kid), "malformed"},
		{"labels not strings", sign(t, jwt.SigningMethodEdDSA, s.Private, with(func(c jwt.MapClaims) { c["labels"] = map[string]any{"room": 1} }), kid), "malformed"},
		{"padded base64", func() string {
			tok := sign(t, jwt.SigningMethodEdDSA, s.Private, claims(), kid)
			i := strings.IndexByte(tok, '.')
			return tok[:i] + "=" + tok[i:]
		}(), "malformed"},
		{"two parts", "abc.def", "malformed"},
		{"four parts", "a.b.c.d", "malformed"},
		{"8 MiB of dots", strings.Repeat(".", 8<<20), "malformed"},
		{"15 KiB of dots", strings.Repeat(".", 15<<10), "malformed"},
		{"garbage", "x.y.z", "malformed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.Verify(tc.token)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if c.Subject != "ops" || c.Scope != "connections:read" {
					t.Fatalf("claims %+v", c)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("error %q, want reason %q", err, tc.reason)
			}
		})
	}
}

// TestVerifyOversizedIsCheap: a huge token is refused before any parsing,
// without allocating in proportion to its size (CVE-2025-30204).
func TestVerifyOversizedIsCheap(t *testing.T) {
	v := newVerifier(t, newSigner(t).Key())
	for _, tok := range []string{strings.Repeat(".", 8<<20), strings.Repeat("a.", 4000)} {
		allocs := testing.AllocsPerRun(20, func() {
			if _, err := v.Verify(tok); !errors.Is(err, ErrMalformed) {
				t.Fatalf("err %v", err)
			}
		})
		if allocs > 0 {
			t.Errorf("%d bytes: %v allocations per refusal", len(tok), allocs)
		}
	}
}

// TestValidMethodsPinned: the parser's algorithm list is exactly the
// configured keys' algorithms, and a key is only used for its algorithm.
func TestValidMethodsPinned(t *testing.T) {
	s := newSigner(t)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecPub, err := keyForPublic("ec", &ecKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier(t, s.Key(), ecPub)
	if _, err := v.Verify(sign(t, jwt.SigningMethodES256, ecKey, claims(), map[string]any{"kid": "ec"})); err != nil {
		t.Fatalf("ES256 with an ES256 key: %v", err)
	}
	// The ES256 key named with an EdDSA token: no key of that algorithm has
	// that id.
	if _, err := v.Verify(sign(t, jwt.SigningMethodEdDSA, s.Private, claims(), map[string]any{"kid": "ec"})); err == nil {
		t.Fatal("EdDSA token verified through an ES256 key id")
	}
	if err := v.SetKeys([]Key{{ID: "x", Alg: AlgRS256, Public: s.Key().Public}}); err == nil {
		t.Fatal("an Ed25519 key pinned to RS256 was accepted")
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keyForPublic("", &rsaKey.PublicKey); err == nil {
		t.Fatal("1024-bit RSA key accepted")
	}
}

func TestMintVerify(t *testing.T) {
	s := newSigner(t)
	tok, err := s.Mint(MintOptions{Subject: "alice", Audience: DefaultClientAudience, Labels: map[string]string{"room": "lobby"}, TTL: time.Minute, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(VerifierConfig{Keys: []Key{s.Key()}, Audience: DefaultClientAudience, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "alice" || c.Labels["room"] != "lobby" || !c.ExpiresAt.Equal(testNow.Add(time.Minute)) {
		t.Fatalf("claims %+v", c)
	}
	if _, err := s.Mint(MintOptions{Subject: "x", Audience: "a"}); err == nil {
		t.Fatal("minted without a ttl")
	}
	if _, err := newVerifier(t, s.Key()).Verify(tok); err == nil {
		t.Fatal("client token verified as an admin token")
	}
}
