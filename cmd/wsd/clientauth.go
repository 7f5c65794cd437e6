package main

import (
	"errors"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/wsd-dev/wsd/admin/token"
	"github.com/wsd-dev/wsd/daemon"
)

// subprotocolTokenPrefix marks the Sec-WebSocket-Protocol entry that
// carries a client token, for browsers, which cannot set Authorization on
// a WebSocket: new WebSocket(url, ["chat", "bearer." + token]). The entry
// is never selected; offer a real subprotocol (--subprotocols) beside it.
const subprotocolTokenPrefix = "bearer."

var errNoToken = errors.New("missing client token (Authorization: Bearer, access_token query parameter, or a bearer.TOKEN subprotocol)")

// clientAuthenticator is daemon.Authenticator over client tokens
// (PRODUCT.md §5): sub becomes the user, the labels claim the connection's
// trusted labels, and the connection is closed with 4401 when the token
// expires (exp plus the leeway that let it in).
type clientAuthenticator struct{ v *token.Verifier }

func (a clientAuthenticator) AuthenticateClient(r *http.Request) (daemon.Identity, error) {
	raw := clientToken(r)
	if raw == "" {
		return daemon.Identity{}, errNoToken
	}
	c, err := a.v.Verify(raw)
	if err != nil {
		return daemon.Identity{}, err
	}
	return daemon.Identity{User: c.Subject, Labels: c.Labels, ExpiresAt: c.ExpiresAt.Add(a.v.Leeway())}, nil
}

// clientToken finds the token: the Authorization header, then the
// access_token query parameter, then a subprotocol entry.
func clientToken(r *http.Request) string {
	if scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(tok)
	}
	if tok := r.URL.Query().Get("access_token"); tok != "" {
		return tok
	}
	for _, h := range r.Header.Values(textproto.CanonicalMIMEHeaderKey("Sec-WebSocket-Protocol")) {
		for p := range strings.SplitSeq(h, ",") {
			if tok, ok := strings.CutPrefix(strings.TrimSpace(p), subprotocolTokenPrefix); ok {
				return tok
			}
		}
	}
	return ""
}
