package token

import (
	"bytes"
	"encoding/json"
	"fmt"
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

// UnmarshalJSON decodes the claims and refuses a time claim (exp, nbf, iat)
// that is not a JSON number. RFC 7519 §2 makes a NumericDate a number; the
// jwt library would also read the string "1700000000" as one.
func (c *Claims) UnmarshalJSON(b []byte) error {
	var times struct {
		Exp json.RawMessage `json:"exp"`
		Nbf json.RawMessage `json:"nbf"`
		Iat json.RawMessage `json:"iat"`
	}
	if err := json.Unmarshal(b, &times); err != nil {
		return err
	}
	for _, t := range []struct {
		name string
		raw  json.RawMessage
	}{{"exp", times.Exp}, {"nbf", times.Nbf}, {"iat", times.Iat}} {
		if bytes.HasPrefix(bytes.TrimSpace(t.raw), []byte(`"`)) {
			return fmt.Errorf("claim %s is a string, not a NumericDate", t.name)
		}
	}
	type plain Claims // without this method
	return json.Unmarshal(b, (*plain)(c))
}
