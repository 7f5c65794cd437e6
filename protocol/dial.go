package protocol

import (
	"bufio"
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DialOptions configure the client side. A nil *DialOptions means all
// defaults.
type DialOptions struct {
	Options

	// Header holds extra request headers (Origin, Authorization, ...).
	// Headers of the handshake itself (Upgrade, Connection, Host and
	// Sec-WebSocket-*) may not be set here.
	Header http.Header

	// Subprotocols are offered in order of preference.
	Subprotocols []string

	// Extensions are offered in Sec-WebSocket-Extensions. The server may
	// accept any of them; an answer naming anything else fails the dial.
	// Accepted extensions must not change framing: RSV bits stay
	// forbidden.
	Extensions []Extension

	// Compression offers permessage-deflate (RFC 7692). Nil disables it.
	Compression *CompressionOptions

	// TLSConfig is used for wss:// URLs; ServerName defaults to the host.
	TLSConfig *tls.Config

	// NetDialContext, if set, opens the TCP connection.
	NetDialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

// DialError is a failed client handshake. Response is the server's answer,
// if it sent one (its body holds at most 1 KiB).
type DialError struct {
	Reason   string
	Response *http.Response
}

func (e *DialError) Error() string {
	if e.Response != nil {
		return fmt.Sprintf("websocket handshake failed: server answered %q: %s", e.Response.Status, e.Reason)
	}
	return "websocket handshake failed: " + e.Reason
}

// Unwrap returns ErrHandshake.
func (e *DialError) Unwrap() error { return ErrHandshake }

// reservedDialHeaders are set by Dial itself.
var reservedDialHeaders = []string{"Upgrade", "Connection", "Host", "Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Protocol", "Sec-Websocket-Extensions", "Sec-Websocket-Accept"}

// Dial opens a WebSocket connection to a ws:// or wss:// URL. ctx bounds the
// TCP connect, the TLS handshake and the opening handshake; it does not
// govern the returned connection. The response is returned whenever the
// server answered, also on failure.
func Dial(ctx context.Context, rawURL string, opts *DialOptions) (*Conn, *http.Response, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, fmt.Errorf("dial: %w", err)
	}
	var tlsOn bool
	switch u.Scheme {
	case "ws":
	case "wss":
		tlsOn = true
	default:
		return nil, nil, fmt.Errorf("dial %s: scheme %q is not ws or wss", rawURL, u.Scheme)
	}
	if u.User != nil {
		return nil, nil, fmt.Errorf("dial %s: user information in a WebSocket URL is not supported", u.Redacted())
	}
	for _, k := range reservedDialHeaders {
		if _, ok := opts.Header[k]; ok {
			return nil, nil, fmt.Errorf("dial: header %s is set by the handshake and cannot be given", k)
		}
	}
	if err := opts.Compression.validate(); err != nil {
		return nil, nil, fmt.Errorf("dial: %w", err)
	}
	for _, e := range opts.Extensions {
		if opts.Compression.enabled() && e.Name == deflateName {
			return nil, nil, fmt.Errorf("dial: offer %s through Compression, not Extensions", deflateName)
		}
	}
	for _, p := range opts.Subprotocols {
		if !isToken(p) {
			return nil, nil, fmt.Errorf("dial: subprotocol %q is not a token", p)
		}
	}
	addr := u.Host
	if u.Port() == "" {
		port := "80"
		if tlsOn {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	dial := opts.NetDialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	nc, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	c, resp, err := handshake(ctx, nc, u, tlsOn, opts)
	if err != nil {
		return nil, resp, errors.Join(err, closeQuiet(nc))
	}
	return c, resp, nil
}

// closeQuiet closes nc after a failed handshake, reporting only errors that
// are news.
func closeQuiet(nc net.Conn) error {
	if err := nc.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

func handshake(ctx context.Context, nc net.Conn, u *url.URL, tlsOn bool, opts *DialOptions) (*Conn, *http.Response, error) {
	if d, ok := ctx.Deadline(); ok {
		if err := nc.SetDeadline(d); err != nil {
			return nil, nil, fmt.Errorf("dial: %w", err)
		}
	}
	stop := watch(ctx, nc, net.Conn.SetDeadline)
	c, resp, err := handshakeIO(ctx, nc, u, tlsOn, opts)
	if stop != nil && !stop() {
		return nil, resp, ctxErr(ctx, errors.Join(err, ctx.Err()))
	}
	if err != nil {
		return nil, resp, err
	}
	if err := nc.SetDeadline(time.Time{}); err != nil {
		return nil, resp, fmt.Errorf("dial: %w", err)
	}
	return c, resp, nil
}

func handshakeIO(ctx context.Context, nc net.Conn, u *url.URL, tlsOn bool, opts *DialOptions) (*Conn, *http.Response, error) {
	conn := nc
	if tlsOn {
		cfg := &tls.Config{}
		if opts.TLSConfig != nil {
			cfg = opts.TLSConfig.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, nil, fmt.Errorf("dial: tls: %w", err)
		}
		conn = tc
	}
	var raw [16]byte
	crand.Read(raw[:])
	key := base64.StdEncoding.EncodeToString(raw[:])

	var b strings.Builder
	b.WriteString("GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\n")
	b.WriteString("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + "\r\n")
	if len(opts.Subprotocols) > 0 {
		b.WriteString("Sec-WebSocket-Protocol: " + strings.Join(opts.Subprotocols, ", ") + "\r\n")
	}
	offers := opts.Extensions
	if opts.Compression.enabled() {
		offers = append([]Extension{deflateOffer(opts.Compression)}, offers...)
	}
	if len(offers) > 0 {
		b.WriteString("Sec-WebSocket-Extensions: " + formatExtensions(offers) + "\r\n")
	}
	for k, vs := range opts.Header {
		for _, v := range vs {
			if strings.ContainsAny(k+v, "\r\n") {
				return nil, nil, fmt.Errorf("dial: header %s contains a line break", k)
			}
			b.WriteString(k + ": " + v + "\r\n")
		}
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return nil, nil, fmt.Errorf("dial: write request: %w", err)
	}

	br := bufio.NewReaderSize(conn, opts.readBufferSize())
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet, URL: u})
	if err != nil {
		return nil, nil, fmt.Errorf("dial: read response: %w", err)
	}
	df, err := checkResponse(resp, key, opts)
	if err != nil {
		if resp.StatusCode != http.StatusSwitchingProtocols {
			body, rerr := io.ReadAll(io.LimitReader(resp.Body, 1024))
			resp.Body = io.NopCloser(strings.NewReader(string(body)))
			if rerr != nil {
				return nil, resp, errors.Join(err, rerr)
			}
		}
		return nil, resp, err
	}
	c := newConn(conn, br, bufio.NewWriterSize(conn, opts.writeBufferSize()), true, &opts.Options)
	c.subproto = resp.Header.Get("Sec-WebSocket-Protocol")
	c.exts = strings.Join(resp.Header[hExtensions], ", ")
	c.df = df
	return c, resp, nil
}

// checkResponse validates the server's answer (RFC 6455 §4.1, client
// requirements 1-6) and returns the negotiated compression, if any.
func checkResponse(resp *http.Response, key string, opts *DialOptions) (*deflateState, error) {
	fail := func(format string, args ...any) (*deflateState, error) {
		return nil, &DialError{Reason: fmt.Sprintf(format, args...), Response: resp}
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return fail("expected status 101")
	}
	if !headerHasToken(resp.Header, hUpgrade, "websocket") {
		return fail("missing Upgrade: websocket")
	}
	if !headerHasToken(resp.Header, hConnection, "upgrade") {
		return fail("missing Connection: Upgrade")
	}
	if got := resp.Header[hAccept]; len(got) != 1 || strings.TrimSpace(got[0]) != acceptKey(key) {
		return fail("Sec-WebSocket-Accept does not match the key sent")
	}
	switch ps := resp.Header[hProtocol]; len(ps) {
	case 0:
	case 1:
		p := strings.TrimSpace(ps[0])
		offered := false
		for _, o := range opts.Subprotocols {
			offered = offered || o == p
		}
		if !offered {
			return fail("server selected subprotocol %q that was not offered", p)
		}
	default:
		return fail("server selected more than one subprotocol")
	}
	exts, err := ParseExtensions(resp.Header[hExtensions])
	if err != nil {
		return fail("%v", err)
	}
	var df *deflateState
	for _, e := range exts {
		if e.Name == deflateName && opts.Compression.enabled() {
			if df != nil {
				return fail("server accepted %s twice", deflateName)
			}
			if df, err = acceptDeflateResponse(e, opts.Compression); err != nil {
				return fail("%v", err)
			}
			continue
		}
		offered := false
		for _, o := range opts.Extensions {
			offered = offered || strings.EqualFold(o.Name, e.Name)
		}
		if !offered {
			return fail("server accepted extension %q that was not offered", e.Name)
		}
	}
	return df, nil
}
