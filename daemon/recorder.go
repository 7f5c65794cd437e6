package daemon

import (
	"net/http"
	"time"

	"github.com/wsd-dev/wsd/session"
)

// Close codes the daemon sends besides the RFC 6455 ones (package
// session's, where history and the admin API read them too).
const (
	CodeTokenExpired = session.CodeTokenExpired
	CodePongTimeout  = session.CodePongTimeout
)

// Recorder receives every session's start and end; *store.Store
// implements it. Both methods must return at once: they
// are called on the connection's goroutine; a recorder that cannot keep up
// drops and counts, it never blocks.
type Recorder interface {
	RecordOpen(session.Open)
	RecordClose(session.Close)
}

// nopRecorder is used when Deps.Recorder is nil.
type nopRecorder struct{}

func (nopRecorder) RecordOpen(session.Open)   {}
func (nopRecorder) RecordClose(session.Close) {}

// Authenticator checks a client's credentials at the handshake (PRODUCT.md
// §5, --client-auth). It is optional; without one every client is anonymous.
type Authenticator interface {
	// AuthenticateClient returns the client's identity, or an error that
	// refuses the handshake with 401.
	AuthenticateClient(r *http.Request) (Identity, error)
}

// Identity is what a client token establishes.
type Identity struct {
	User      string
	Labels    map[string]string // trusted labels from the token
	ExpiresAt time.Time         // zero: never; at expiry the connection is closed with 4401
}
