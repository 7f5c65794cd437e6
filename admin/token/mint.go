package token

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MintOptions describe a token to mint.
type MintOptions struct {
	Subject  string
	Issuer   string // default DefaultIssuer
	Audience string // DefaultAdminAudience or DefaultClientAudience, or another
	Scopes   []string
	Labels   map[string]string
	TTL      time.Duration // required, positive
	Now      time.Time     // zero: time.Now()
}

// Mint returns a signed token (EdDSA, with the signer's key id as "kid").
func (s Signer) Mint(o MintOptions) (string, error) {
	if o.Subject == "" {
		return "", errors.New("mint: a subject is required")
	}
	if o.Audience == "" {
		return "", errors.New("mint: an audience is required")
	}
	if o.TTL <= 0 {
		return "", fmt.Errorf("mint: ttl %v must be positive", o.TTL)
	}
	if o.Issuer == "" {
		o.Issuer = DefaultIssuer
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	var jti [12]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", fmt.Errorf("mint: %w", err)
	}
	c := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    o.Issuer,
			Subject:   o.Subject,
			Audience:  jwt.ClaimStrings{o.Audience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(o.TTL)),
			ID:        base64.RawURLEncoding.EncodeToString(jti[:]),
		},
		Scope:  strings.Join(o.Scopes, " "),
		Labels: o.Labels,
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	t.Header["kid"] = s.Key().ID
	signed, err := t.SignedString(s.Private)
	if err != nil {
		return "", fmt.Errorf("mint: %w", err)
	}
	return signed, nil
}
