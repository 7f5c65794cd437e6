package token

import (
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// Defaults of issuer and audiences. Admin and client tokens have different
// audiences, so that one can never be used as the other.
const (
	DefaultIssuer         = "wsd"
	DefaultAdminAudience  = "wsd-admin"
	DefaultClientAudience = "wsd-client"
)

// Claims are the claims of a wsd token: the registered ones, the scopes of
// an admin token (space-separated, as OAuth 2.0's "scope" claim) and the
// labels of a client token.
type Claims struct {
	jwt.RegisteredClaims
	Scope  string            `json:"scope,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
}

// Scopes returns the token's scopes.
func (c *Claims) Scopes() []string { return strings.Fields(c.Scope) }
