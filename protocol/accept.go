package protocol

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
)

// AcceptOptions configure the server side of the opening handshake. A nil
// *AcceptOptions means all defaults.
type AcceptOptions struct {
	Options

	// Subprotocols lists the subprotocols the server speaks, in its order
	// of preference; the first one the client offers is selected. When
	// none matches, the handshake succeeds without a subprotocol (the
	// client decides whether that is acceptable).
	Subprotocols []string

	// OriginPatterns are host patterns (path.Match syntax, matched
	// case-insensitively against the Origin's host[:port]) allowed in
	// addition to the same origin, e.g. "*.example.com". Requests without
	// an Origin header (non-browser clients) are always allowed.
	OriginPatterns []string

	// CheckOrigin, if set, replaces the default origin policy. It is called
	// only for requests that carry an Origin header.
	CheckOrigin func(r *http.Request) bool

	// Extensions, if set, is the extension negotiation hook: it receives
	// the client's offers in order and returns the extensions to accept,
	// which are answered in Sec-WebSocket-Extensions. Accepted extensions
	// must not change framing: RSV bits stay forbidden.
	Extensions func(offers []Extension) []Extension

	// Compression enables permessage-deflate (RFC 7692) when the client
	// offers it. Nil disables it.
	Compression *CompressionOptions

	// ResponseHeader holds extra headers for the 101 response.
	ResponseHeader http.Header

	// MaxHeaderBytes bounds the request head read by AcceptRaw when it
	// makes its own reader. Default 8 KiB. (Accept leaves it to the
	// http.Server; callers of Upgrade bound their HeadReader.)
	MaxHeaderBytes int
}

// HandshakeError is an opening-handshake failure on the server side: the
// HTTP status to answer (or that was answered) and why. It wraps
// ErrHandshake and, when the request head could not be read, ErrHeadTooLarge
// or ErrMalformedRequest.
type HandshakeError struct {
	Status int
	// Reason is the one-line explanation given to the client.
	Reason string
	kind   error // ErrHeadTooLarge, ErrMalformedRequest or nil
	detail error // what net/http said about a malformed head, or nil
}

func (e *HandshakeError) Error() string {
	s := fmt.Sprintf("websocket handshake failed: %d %s: %s", e.Status, http.StatusText(e.Status), e.Reason)
	if e.detail != nil {
		s += ": " + e.detail.Error()
	}
	return s
}

// Unwrap returns ErrHandshake and, for a head that could not be read, its
// sentinel and cause.
func (e *HandshakeError) Unwrap() []error {
	errs := []error{ErrHandshake}
	if e.kind != nil {
		errs = append(errs, e.kind)
	}
	if e.detail != nil {
		errs = append(errs, e.detail)
	}
	return errs
}

// negotiation is the outcome of a valid opening handshake.
type negotiation struct {
	accept   [acceptLen]byte
	subproto string
	exts     string
	deflate  *deflateState
}

// checkRequest validates a client's opening handshake (RFC 6455 §4.2.1) and
// negotiates the subprotocol and extensions. A failure carries the HTTP
// status and headers to answer with.
func checkRequest(r *http.Request, o *AcceptOptions) (negotiation, *HandshakeError, http.Header) {
	var n negotiation
	bad := func(status int, format string, args ...any) (negotiation, *HandshakeError, http.Header) {
		return n, &HandshakeError{Status: status, Reason: fmt.Sprintf(format, args...)}, nil
	}
	if r.Method != http.MethodGet {
		h := http.Header{"Allow": {"GET"}}
		return n, &HandshakeError{Status: http.StatusMethodNotAllowed, Reason: "method " + r.Method + " is not GET"}, h
	}
	if !r.ProtoAtLeast(1, 1) {
		return bad(http.StatusBadRequest, "%s is not HTTP/1.1 or later", r.Proto)
	}
	if r.Host == "" {
		return bad(http.StatusBadRequest, "missing Host header")
	}
	if !headerHasToken(r.Header, hConnection, "upgrade") || !headerHasToken(r.Header, hUpgrade, "websocket") {
		h := http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}, "Sec-Websocket-Version": {"13"}}
		return n, &HandshakeError{Status: http.StatusUpgradeRequired, Reason: "not a WebSocket upgrade request (Connection: Upgrade and Upgrade: websocket required)"}, h
	}
	if v := r.Header[hVersion]; len(v) != 1 || strings.TrimSpace(v[0]) != "13" {
		h := http.Header{"Sec-Websocket-Version": {"13"}}
		return n, &HandshakeError{Status: http.StatusUpgradeRequired, Reason: fmt.Sprintf("unsupported Sec-WebSocket-Version %q, only 13 is", strings.Join(v, ", "))}, h
	}
	keys := r.Header[hKey]
	if len(keys) != 1 {
		return bad(http.StatusBadRequest, "Sec-WebSocket-Key must appear exactly once, found %d", len(keys))
	}
	key := strings.TrimSpace(keys[0])
	if !validKey(key) {
		return bad(http.StatusBadRequest, "Sec-WebSocket-Key is not the base64 encoding of 16 bytes")
	}
	if origins := r.Header[hOrigin]; len(origins) > 0 {
		if len(origins) > 1 {
			return bad(http.StatusForbidden, "more than one Origin header")
		}
		if !originAllowed(r, origins[0], o) {
			return bad(http.StatusForbidden, "origin %q not allowed", origins[0])
		}
	}
	n.accept = acceptBytes(key)
	n.subproto = selectSubprotocol(headerTokens(r.Header, hProtocol), o.Subprotocols)
	if o.Extensions != nil || o.Compression.enabled() {
		offers, err := ParseExtensions(r.Header[hExtensions])
		if err != nil {
			return bad(http.StatusBadRequest, "%v", err)
		}
		var accepted []Extension
		if o.Compression.enabled() {
			if resp, st, ok := negotiateDeflate(offers, o.Compression); ok {
				accepted = append(accepted, resp)
				n.deflate = st
			}
			offers = slices.DeleteFunc(offers, func(e Extension) bool { return e.Name == deflateName })
		}
		if o.Extensions != nil && len(offers) > 0 {
			accepted = append(accepted, o.Extensions(offers)...)
		}
		n.exts = formatExtensions(accepted)
	}
	return n, nil, nil
}

// selectSubprotocol returns the server's most preferred subprotocol that the
// client offered, or "".
func selectSubprotocol(offered, supported []string) string {
	for _, s := range supported {
		for _, c := range offered {
			if c == s {
				return s
			}
		}
	}
	return ""
}

// originAllowed applies the origin policy: the hook if set, else same origin
// or one of the patterns.
func originAllowed(r *http.Request, origin string, o *AcceptOptions) bool {
	if o.CheckOrigin != nil {
		return o.CheckOrigin(r)
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false // includes the opaque origin "null"
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	host := strings.ToLower(u.Host)
	for _, p := range o.OriginPatterns {
		if ok, err := path.Match(strings.ToLower(p), host); err == nil && ok {
			return true
		}
	}
	return false
}

// appendResponse appends the 101 response for a negotiated handshake.
func appendResponse(b []byte, n negotiation, extra http.Header) []byte {
	b = append(b, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	b = append(b, n.accept[:]...)
	b = append(b, "\r\n"...)
	if n.subproto != "" {
		b = append(b, "Sec-WebSocket-Protocol: "...)
		b = append(b, n.subproto...)
		b = append(b, "\r\n"...)
	}
	if n.exts != "" {
		b = append(b, "Sec-WebSocket-Extensions: "...)
		b = append(b, n.exts...)
		b = append(b, "\r\n"...)
	}
	for k, vs := range extra {
		for _, v := range vs {
			b = appendField(b, k, v)
		}
	}
	return append(b, "\r\n"...)
}

func dropCRLF(r rune) rune {
	if r == '\r' || r == '\n' {
		return -1
	}
	return r
}

// Accept upgrades an HTTP request to a WebSocket connection. On a bad
// handshake it answers with a 4xx status and a one-line body (through w, so
// the http.Server may keep the connection) and returns a *HandshakeError;
// it never answers 101 to an invalid request. A valid request is validated
// as Upgrade does, then its connection is hijacked and answered 101.
func Accept(w http.ResponseWriter, r *http.Request, opts *AcceptOptions) (*Conn, error) {
	if opts == nil {
		opts = &AcceptOptions{}
	}
	if err := opts.Compression.validate(); err != nil {
		http.Error(w, "websocket: server misconfigured", http.StatusInternalServerError)
		return nil, fmt.Errorf("accept: %w", err)
	}
	n, herr, hdr := checkRequest(r, opts)
	if herr != nil {
		for k, v := range hdr {
			w.Header()[k] = v
		}
		http.Error(w, herr.Reason, herr.Status)
		return nil, herr
	}
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "websocket: connection cannot be hijacked", http.StatusInternalServerError)
		return nil, fmt.Errorf("accept: hijack: %w", err)
	}
	// Reuse the server's buffers when they fit the requested sizes.
	br := brw.Reader
	if br.Size() < opts.readBufferSize() && br.Buffered() == 0 {
		br = bufio.NewReaderSize(nc, opts.readBufferSize())
	}
	bw := brw.Writer
	if bw.Size() < opts.writeBufferSize() {
		bw = bufio.NewWriterSize(nc, opts.writeBufferSize())
	}
	c, err := finishUpgrade(nc, br, bw, n, opts)
	if err != nil {
		// Hijacked: nobody else will close it.
		return nil, fmt.Errorf("accept: %w", errors.Join(err, nc.Close()))
	}
	return c, nil
}

// AcceptRaw performs the server handshake on a connection that no HTTP
// server has read from, for listeners that skip net/http: it reads the
// request head with a HeadReader bounded by MaxHeaderBytes, refuses a head
// that is too large or malformed with Reject, and completes the handshake
// with Upgrade. If br is not nil, the head is read from br instead, without
// a size limit: br must read from nc and may hold bytes already read. The
// caller bounds the handshake's duration with nc's deadline (and clears it
// afterwards).
//
// It returns the parsed request (for its path, query and headers). On a bad
// handshake it writes the error response and returns a *HandshakeError; a
// request head cut short returns the read error (see
// HeadReader.ReadRequest). The caller closes nc on any error.
func AcceptRaw(nc net.Conn, br *bufio.Reader, opts *AcceptOptions) (*Conn, *http.Request, error) {
	if opts == nil {
		opts = &AcceptOptions{}
	}
	var req *http.Request
	var err error
	if br == nil {
		h := NewHeadReader(opts.readBufferSize())
		h.Reset(nc, opts.MaxHeaderBytes)
		req, err = h.ReadRequest()
		br = h.Reader()
	} else if req, err = http.ReadRequest(br); err != nil {
		err = readRequestFailed(err)
	}
	if err != nil {
		var herr *HandshakeError
		if errors.As(err, &herr) {
			return nil, nil, errors.Join(err, Reject(nc, herr.Status, nil, herr.Reason))
		}
		return nil, nil, fmt.Errorf("accept: %w", err)
	}
	c, err := Upgrade(nc, bufio.NewReadWriter(br, nil), req, opts)
	return c, req, err
}
