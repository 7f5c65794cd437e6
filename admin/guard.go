package admin

import (
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/wsd-dev/wsd/admin/apitype"
)

// guard refuses what no browser on another origin may do to the admin
// listener (Caddy's admin.go model): WebSocket upgrades, a Host that is a
// name we were not told about (DNS rebinding), and cross-origin requests.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.checkRequest(r); err != nil {
			s.writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) checkRequest(r *http.Request) error {
	if n := headBytes(r); n > s.cfg.MaxHeaderBytes {
		return errorf(http.StatusRequestHeaderFieldsTooLarge, apitype.CodeHeaderTooLarge, "request head of %d bytes is over the limit of %d", n, s.cfg.MaxHeaderBytes)
	}
	if r.Header.Get("Upgrade") != "" {
		return errorf(http.StatusBadRequest, apitype.CodeBadRequest, "the admin listener does not accept protocol upgrades")
	}
	if !s.hostAllowed(r.Host) {
		return errorf(http.StatusForbidden, apitype.CodeForbidden, "host %q is not allowed on the admin listener (use an IP address or localhost, or add the name to --admin-allowed-hosts)", r.Host)
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		// Browsers send Sec-Fetch-Site even where they omit Origin.
		if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
			return errorf(http.StatusForbidden, apitype.CodeForbidden, "cross-site requests are refused")
		}
		return nil // not a browser: a CLI or a script
	}
	if !s.originAllowed(origin, r.Host) {
		return errorf(http.StatusForbidden, apitype.CodeForbidden, "origin %q is not allowed on the admin listener", origin)
	}
	return nil
}

// headBytes is the size of r's head as it came on the wire, give or take
// the spaces around each header's colon.
func headBytes(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + len(r.Proto) + len(r.Host) + 12
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// hostAllowed accepts IP literals (a rebinding attack needs a name),
// localhost, and the configured names.
func (s *Server) hostAllowed(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.Trim(h, "[]"), ".")
	if h == "" {
		return false
	}
	if net.ParseIP(h) != nil || strings.EqualFold(h, "localhost") {
		return true
	}
	return slices.ContainsFunc(s.cfg.AllowedHosts, func(a string) bool { return strings.EqualFold(a, h) })
}

// originAllowed accepts the same origin (its host:port is the request's
// Host) and the configured origins; never "null".
func (s *Server) originAllowed(origin, host string) bool {
	if origin == "null" {
		return false
	}
	if slices.Contains(s.cfg.AllowedOrigins, origin) {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	return strings.EqualFold(u.Host, host)
}

// recoverPanic turns a handler panic into a 500 for that request alone,
// logged once with its stack.
func (s *Server) recoverPanic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("admin handler panic", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				s.writeError(w, r, errorf(http.StatusInternalServerError, apitype.CodeInternal, "internal error"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}
