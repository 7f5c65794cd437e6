// Package client is the Go client of wsd's admin API (PRODUCT.md §4). wsctl
// and the end-to-end tests use it. It imports only admin/apitype and the
// standard library, so that a program using it links no part of the
// server.
//
// Errors: an answer with an error body is an *Error (match the code with
// errors.As, or IsNotFound and the like); a daemon that cannot be reached
// gives an *UnreachableError.
package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wsd-dev/wsd/admin/apitype"
)

// DefaultServer is the admin listener's default address.
const DefaultServer = "http://127.0.0.1:8081"

// maxAnswer bounds a JSON answer read into memory.
const maxAnswer = 64 << 20

// Client calls one wsd's admin API. Its zero value is not usable: use New.
// It is safe for concurrent use.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
	// UserAgent is sent with every request.
	UserAgent string
}

// Options tune a Client; nil means defaults.
type Options struct {
	// HTTPClient makes the requests; nil: one with a 5 s connect timeout
	// and no overall timeout (bound calls with their context).
	HTTPClient *http.Client
	UserAgent  string
	// TLSConfig verifies an https admin listener (for instance RootCAs
	// holding a private CA); nil: the system's roots. Ignored with
	// HTTPClient.
	TLSConfig *tls.Config
}

// New returns a client of the admin API at server (http://host:port).
func New(server, token string, o *Options) (*Client, error) {
	if server == "" {
		server = DefaultServer
	}
	if !strings.Contains(server, "://") {
		server = "http://" + server
	}
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server %q: want http://host:port", server)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	c := &Client{base: u, token: token, UserAgent: "wsd-admin-client"}
	var tlsConf *tls.Config
	if o != nil {
		tlsConf = o.TLSConfig
		c.http = o.HTTPClient
		if o.UserAgent != "" {
			c.UserAgent = o.UserAgent
		}
	}
	if c.http == nil {
		c.http = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			TLSHandshakeTimeout:   5 * time.Second,
			TLSClientConfig:       tlsConf,
			ResponseHeaderTimeout: time.Minute,
			MaxIdleConnsPerHost:   4,
		}}
	}
	return c, nil
}

// Server returns the base URL.
func (c *Client) Server() string { return c.base.String() }

// Error is an error answer of the API.
type Error struct {
	Status  int
	Code    string
	Message string
	Matched *int // confirmation_required: how many connections match
	// WebSocketListener is set when the answer came from a WebSocket
	// listener rather than the admin API: a 426 or an answer offering
	// "Upgrade: websocket", without the API's JSON error body. The caller
	// was likely pointed at wsd's WebSocket port.
	WebSocketListener bool
}

func (e *Error) Error() string { return e.Message }

// UnreachableError: no answer came from the server.
type UnreachableError struct {
	Server string
	Err    error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach wsd at %s: %v", e.Server, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

func hasStatus(err error, status ...int) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	for _, s := range status {
		if e.Status == s {
			return true
		}
	}
	return false
}

// IsNotFound reports whether err is a 404 answer.
func IsNotFound(err error) bool { return hasStatus(err, http.StatusNotFound) }

// IsAuth reports whether err is a refused (401) or insufficient (403) token.
func IsAuth(err error) bool { return hasStatus(err, http.StatusUnauthorized, http.StatusForbidden) }

// IsBadRequest reports whether err is a 400 answer (bad parameter or
// selector).
func IsBadRequest(err error) bool { return hasStatus(err, http.StatusBadRequest) }

// do sends a request and decodes a JSON answer into out (if not nil).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body, out any) error {
	resp, err := c.send(ctx, method, path, q, body, "application/json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, err := io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
		return err
	}
	dec := json.NewDecoder(io.LimitReader(resp.Body, maxAnswer))
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// send returns a 2xx response, or the error its body describes.
func (c *Client) send(ctx context.Context, method, path string, q url.Values, body any, accept string) (*http.Response, error) {
	return c.sendHeader(ctx, method, path, q, body, accept, nil)
}

// sendHeader is send with extra request headers.
func (c *Client) sendHeader(ctx context.Context, method, path string, q url.Values, body any, accept string, hdr http.Header) (*http.Response, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", c.UserAgent)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, &UnreachableError{Server: c.base.String(), Err: err}
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	var e apitype.Error
	b, rerr := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if rerr == nil && json.Unmarshal(b, &e) == nil && e.Error.Code != "" {
		return nil, &Error{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message, Matched: e.Error.Matched}
	}
	msg := strings.TrimSpace(string(b))
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	if msg == "" {
		msg = resp.Status
	}
	ws := resp.StatusCode == http.StatusUpgradeRequired || strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") ||
		strings.HasPrefix(msg, "not a WebSocket upgrade request") || strings.HasPrefix(msg, "no route for ")
	return nil, &Error{Status: resp.StatusCode, Code: "http_" + strconv.Itoa(resp.StatusCode), Message: fmt.Sprintf("%s %s: %s", method, path, msg), WebSocketListener: ws}
}

// ConnectionsQuery filters GET /v1/connections.
type ConnectionsQuery struct {
	Selector string
	Limit    int
	After    string
}

// Connections returns one page of live connections.
func (c *Client) Connections(ctx context.Context, q ConnectionsQuery) (*apitype.ConnectionList, error) {
	v := url.Values{}
	set(v, "selector", q.Selector)
	setInt(v, "limit", q.Limit)
	set(v, "after", q.After)
	var out apitype.ConnectionList
	return &out, c.do(ctx, http.MethodGet, "/v1/connections", v, nil, &out)
}

// AllConnections follows the pages of the live connections matching
// selector, and says whether any page of a fleet-wide listing was partial.
func (c *Client) AllConnections(ctx context.Context, selector string) ([]apitype.Connection, apitype.Fleet, error) {
	var (
		all   []apitype.Connection
		fleet apitype.Fleet
	)
	q := ConnectionsQuery{Selector: selector, Limit: 1000}
	for {
		page, err := c.Connections(ctx, q)
		if err != nil {
			return nil, apitype.Fleet{}, err
		}
		all = append(all, page.Connections...)
		fleet = MergeFleet(fleet, page.Fleet)
		if page.Next == "" {
			return all, fleet, nil
		}
		q.After = page.Next
	}
}

// MergeFleet joins the partial-answer marks of two pages of one listing:
// partial if either is, missing the nodes either misses.
func MergeFleet(a, b apitype.Fleet) apitype.Fleet {
	a.Partial = a.Partial || b.Partial
	for _, n := range b.MissingNodes {
		if !slices.Contains(a.MissingNodes, n) {
			a.MissingNodes = append(a.MissingNodes, n)
		}
	}
	return a
}

// Connection returns one live connection.
func (c *Client) Connection(ctx context.Context, id string) (*apitype.Connection, error) {
	var out apitype.Connection
	return &out, c.do(ctx, http.MethodGet, "/v1/connections/"+url.PathEscape(id), nil, nil, &out)
}

// Send queues one message for a connection.
func (c *Client) Send(ctx context.Context, id string, m apitype.Message) (*apitype.SendResult, error) {
	var out apitype.SendResult
	return &out, c.do(ctx, http.MethodPost, "/v1/connections/"+url.PathEscape(id)+"/messages", nil, m, &out)
}

// Broadcast sends one message to the matching connections.
func (c *Client) Broadcast(ctx context.Context, b apitype.BroadcastRequest) (*apitype.BulkResult, error) {
	var out apitype.BulkResult
	return &out, c.do(ctx, http.MethodPost, "/v1/broadcast", nil, b, &out)
}

// Close closes one connection; code 0 means 1000.
func (c *Client) Close(ctx context.Context, id string, code int, reason string) (*apitype.CloseResult, error) {
	v := url.Values{}
	setInt(v, "code", code)
	set(v, "reason", reason)
	var out apitype.CloseResult
	return &out, c.do(ctx, http.MethodDelete, "/v1/connections/"+url.PathEscape(id), v, nil, &out)
}

// CloseSelected closes the matching connections (or counts them: DryRun).
func (c *Client) CloseSelected(ctx context.Context, r apitype.CloseRequest) (*apitype.BulkResult, error) {
	var out apitype.BulkResult
	return &out, c.do(ctx, http.MethodPost, "/v1/close", nil, r, &out)
}

// SessionsQuery filters GET /v1/sessions. Since and Until are RFC 3339
// times or durations before now ("1h").
type SessionsQuery struct {
	Since, Until string
	User, Route  string
	CloseCode    int
	ClosedBy     string
	// Remote (the client's IP) and Selector (a label selector) are sent
	// as remote= and selector=; a wsd that predates them answers 400.
	Remote   string
	Selector string
	Limit    int
	Before   string
}

// Sessions returns one page of session history, newest first.
func (c *Client) Sessions(ctx context.Context, q SessionsQuery) (*apitype.SessionList, error) {
	v := url.Values{}
	set(v, "since", q.Since)
	set(v, "until", q.Until)
	set(v, "user", q.User)
	set(v, "route", q.Route)
	setInt(v, "close_code", q.CloseCode)
	set(v, "closed_by", q.ClosedBy)
	set(v, "remote", q.Remote)
	set(v, "selector", q.Selector)
	setInt(v, "limit", q.Limit)
	set(v, "before", q.Before)
	var out apitype.SessionList
	return &out, c.do(ctx, http.MethodGet, "/v1/sessions", v, nil, &out)
}

// Session returns one session.
func (c *Client) Session(ctx context.Context, id string) (*apitype.Session, error) {
	var out apitype.Session
	return &out, c.do(ctx, http.MethodGet, "/v1/sessions/"+url.PathEscape(id), nil, nil, &out)
}

// Stats returns the daemon's statistics.
func (c *Client) Stats(ctx context.Context) (*apitype.Stats, error) {
	var out apitype.Stats
	return &out, c.do(ctx, http.MethodGet, "/v1/stats", nil, nil, &out)
}

// Nodes lists the fleet's nodes (this one alone on a single node).
func (c *Client) Nodes(ctx context.Context) (*apitype.NodeList, error) {
	var out apitype.NodeList
	return &out, c.do(ctx, http.MethodGet, "/v1/nodes", nil, nil, &out)
}

// AuditQuery filters GET /v1/audit.
type AuditQuery struct {
	Since, Until string
	Limit        int
	Before       string
}

// Audit returns one page of the audit log, newest first.
func (c *Client) Audit(ctx context.Context, q AuditQuery) (*apitype.AuditList, error) {
	v := url.Values{}
	set(v, "since", q.Since)
	set(v, "until", q.Until)
	setInt(v, "limit", q.Limit)
	set(v, "before", q.Before)
	var out apitype.AuditList
	return &out, c.do(ctx, http.MethodGet, "/v1/audit", v, nil, &out)
}

// OpenAPI returns the API's OpenAPI document.
func (c *Client) OpenAPI(ctx context.Context) (json.RawMessage, error) {
	var out json.RawMessage
	return out, c.do(ctx, http.MethodGet, "/v1/openapi.json", nil, nil, &out)
}

func set(v url.Values, k, s string) {
	if s != "" {
		v.Set(k, s)
	}
}

func setInt(v url.Values, k string, n int) {
	if n != 0 {
		v.Set(k, strconv.Itoa(n))
	}
}

// nodeQuery names the node a verb acts on ("": the server's own).
func nodeQuery(node string) url.Values {
	v := url.Values{}
	set(v, "node", node)
	return v
}

// Cordon makes a node refuse new upgrades and report not ready: the
// server's own (node ""), or in a fleet the one named node (404 when no
// node has that name, 503 when it does not answer).
func (c *Client) Cordon(ctx context.Context, node string) (*apitype.Cordon, error) {
	var out apitype.Cordon
	return &out, c.do(ctx, http.MethodPost, "/v1/cordon", nodeQuery(node), nil, &out)
}

// Uncordon undoes Cordon (409 while a drain runs).
func (c *Client) Uncordon(ctx context.Context, node string) (*apitype.Cordon, error) {
	var out apitype.Cordon
	return &out, c.do(ctx, http.MethodDelete, "/v1/cordon", nodeQuery(node), nil, &out)
}

// Drain starts draining a node (as Cordon names it; 409 when a drain
// runs already); the drain goes on whether or not the caller stays.
func (c *Client) Drain(ctx context.Context, node string, r apitype.DrainRequest) (*apitype.Drain, error) {
	var out apitype.Drain
	return &out, c.do(ctx, http.MethodPost, "/v1/drain", nodeQuery(node), r, &out)
}

// DrainStatus returns the progress of a node's drain (404 when it never
// drained).
func (c *Client) DrainStatus(ctx context.Context, node string) (*apitype.Drain, error) {
	var out apitype.Drain
	return &out, c.do(ctx, http.MethodGet, "/v1/drain", nodeQuery(node), nil, &out)
}

// IsConflict reports whether err is a 409 answer.
func IsConflict(err error) bool { return hasStatus(err, http.StatusConflict) }

// Why explains why a session ended, or how a live one is doing.
func (c *Client) Why(ctx context.Context, id string) (*apitype.Why, error) {
	var out apitype.Why
	return &out, c.do(ctx, http.MethodGet, "/v1/sessions/"+url.PathEscape(id)+"/why", nil, nil, &out)
}

// Trace traces every frame of a connection for a while (a Go duration;
// "" for the server's default).
func (c *Client) Trace(ctx context.Context, id, span string) (*apitype.TraceArm, error) {
	var out apitype.TraceArm
	return &out, c.do(ctx, http.MethodPost, "/v1/connections/"+url.PathEscape(id)+"/trace", nil, apitype.TraceRequest{For: span}, &out)
}

// TailQuery selects what Tail streams: one connection (ID) or the ones
// Selector matches; Payload asks for previews (scope connections:tap).
type TailQuery struct {
	ID       string
	Selector string
	Payload  bool
}

// Tail streams the messages of the tapped connections to fn until ctx is
// done, fn fails, or the server ends the stream (ErrStreamEnded).
// subscribed, if not nil, is called once every message from then on will
// be streamed, with the fleet's nodes that could not be tapped (a partial
// tap of a selector).
func (c *Client) Tail(ctx context.Context, q TailQuery, subscribed func(apitype.Fleet), fn func(apitype.TapEvent) error) error {
	v := url.Values{}
	set(v, "id", q.ID)
	set(v, "selector", q.Selector)
	if q.Payload {
		v.Set("payload", "1")
	}
	resp, err := c.send(ctx, http.MethodGet, "/v1/tap", v, nil, "application/x-ndjson")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 4096), maxEventLine)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue // keepalive
		}
		var ev apitype.TapEvent
		if err := json.Unmarshal(line, &ev); err != nil {
			return fmt.Errorf("tap stream: %w", err)
		}
		switch ev.Type {
		case apitype.TapSubscribed:
			if subscribed != nil {
				subscribed(ev.Fleet)
			}
		case apitype.TapEnd:
			return ErrStreamEnded
		default:
			if err := fn(ev); err != nil {
				return err
			}
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("tap stream: %w", err)
	}
	return fmt.Errorf("tap stream: %w", io.ErrUnexpectedEOF)
}
