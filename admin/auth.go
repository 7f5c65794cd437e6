package admin

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/admin/token"
)

// policy says who may call a route: any valid admin token (scope == ""),
// or one granting scope. There is no public /v1 route.
type policy struct {
	scope string
}

var anyToken = policy{}

func scope(s string) policy { return policy{scope: s} }

func (p policy) String() string {
	if p.scope == "" {
		return "any valid token"
	}
	return "scope " + p.scope
}

// hasScope reports whether claims grant scope: the token lists it, or
// lists "admin".
func hasScope(c *token.Claims, scope string) bool {
	for _, s := range c.Scopes() {
		if s == scope || s == apitype.ScopeAdmin {
			return true
		}
	}
	return false
}

// authorize checks the bearer token (401) and the route's scope (403).
func (s *Server) authorize(r *http.Request, p policy) (*token.Claims, error) {
	raw, err := bearer(r)
	if err != nil {
		return nil, err
	}
	c, err := s.tokens.Verify(raw)
	if err != nil {
		msg := "token refused"
		if errors.Is(err, token.ErrInvalid) {
			msg = "token refused: " + strings.TrimPrefix(err.Error(), token.ErrInvalid.Error()+": ")
		}
		return nil, &Error{Status: http.StatusUnauthorized, Code: apitype.CodeUnauthorized, Message: msg, Err: err}
	}
	if p.scope != "" && !hasScope(c, p.scope) {
		return c, errorf(http.StatusForbidden, apitype.CodeForbidden, "token of %q lacks scope %s", c.Subject, p.scope)
	}
	return c, nil
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) (string, error) {
	h := r.Header.Values("Authorization")
	if len(h) == 0 {
		return "", errorf(http.StatusUnauthorized, apitype.CodeUnauthorized, "missing Authorization: Bearer token")
	}
	if len(h) > 1 {
		return "", errorf(http.StatusUnauthorized, apitype.CodeUnauthorized, "more than one Authorization header")
	}
	scheme, tok, ok := strings.Cut(h[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", errorf(http.StatusUnauthorized, apitype.CodeUnauthorized, "Authorization must be Bearer <token>")
	}
	return strings.TrimSpace(tok), nil
}

type claimsKey struct{}

func withClaims(ctx context.Context, c *token.Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// subject returns the subject of the request's token.
func subject(ctx context.Context) string {
	if c, ok := ctx.Value(claimsKey{}).(*token.Claims); ok {
		return c.Subject
	}
	return ""
}
