package daemon

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wsd-dev/wsd/protocol"
	"github.com/wsd-dev/wsd/session"
	"github.com/wsd-dev/wsd/tracing"
)

// Defaults of Config (PRODUCT.md §8). They are safe for a daemon that faces
// the internet without a proxy in front.
const (
	DefaultMaxMessageSize      = 1 << 20
	DefaultMaxConnections      = 10000
	DefaultMaxConnectionsPerIP = 0 // unlimited: NATed users share an address (README: hardening)
	DefaultHandshakeTimeout    = 10 * time.Second
	DefaultPingInterval        = 20 * time.Second
	DefaultPongTimeout         = 20 * time.Second
	DefaultWriteTimeout        = 10 * time.Second
	DefaultSendQueueBytes      = 1 << 20
	DefaultCloseTimeout        = 5 * time.Second
	DefaultDrainTimeout        = 10 * time.Second
	DefaultHandshakeRate       = 0 // per second and source IP; unlimited (README: hardening)
	DefaultHandshakeBurst      = 40
	DefaultMaxHeaderBytes      = 16 << 10
	DefaultWebhookTimeout      = 5 * time.Second
	DefaultWebhookMaxInFlight  = 4
	DefaultWriteBufferSize     = minWriteBuffer
)

// Handler names accepted in routes.
const (
	HandlerEcho    = "echo"
	HandlerRelay   = "relay"
	HandlerWebhook = "webhook"
	HandlerSink    = "sink"
	// handlerPanic panics on every message; only with Config.TestHandlers.
	handlerPanic = "test-panic"
)

// Route maps a URL path to a handler. A path ending in "/" also serves
// every path below it that no other route claims (net/http ServeMux
// semantics); the default route "/" therefore serves every path.
type Route struct {
	Path    string
	Handler string // echo, relay, webhook, sink
	// Arg is the label name for relay and the URL for webhook.
	Arg string
	// Labels are static labels given to every connection of the route.
	Labels map[string]string
}

// String returns the route in flag syntax, PATH=HANDLER[:ARG].
func (r Route) String() string {
	s := r.Path + "=" + r.Handler
	if r.Arg != "" {
		s += ":" + r.Arg
	}
	return s
}

// ParseRoute parses PATH=HANDLER[:ARG], as given to --route.
func ParseRoute(s string) (Route, error) {
	path, spec, ok := strings.Cut(s, "=")
	if !ok {
		return Route{}, fmt.Errorf("route %q: want PATH=HANDLER[:ARG]", s)
	}
	name, arg, _ := strings.Cut(spec, ":")
	r := Route{Path: path, Handler: name, Arg: arg}
	if err := r.validate(true); err != nil {
		return Route{}, err
	}
	return r, nil
}

func (r Route) validate(testHandlers bool) error {
	if !strings.HasPrefix(r.Path, "/") {
		return fmt.Errorf("route %s: path must start with /", r)
	}
	if strings.ContainsAny(r.Path, "?# \t") {
		return fmt.Errorf("route %s: path may not contain ?, # or spaces", r)
	}
	switch r.Handler {
	case HandlerEcho, HandlerSink:
		if r.Arg != "" {
			return fmt.Errorf("route %s: handler %s takes no argument", r, r.Handler)
		}
	case HandlerRelay:
		if r.Arg == "" {
			return fmt.Errorf("route %s: relay needs a label name (relay:LABEL)", r)
		}
		if err := session.CheckKey(r.Arg); err != nil {
			return fmt.Errorf("route %s: relay label: %w", r, err)
		}
	case HandlerWebhook:
		u, err := url.Parse(r.Arg)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("route %s: webhook needs an absolute http or https URL (webhook:URL)", r)
		}
	case handlerPanic:
		if !testHandlers {
			return fmt.Errorf("route %s: unknown handler %q (want echo, relay:LABEL, webhook:URL or sink)", r, r.Handler)
		}
	default:
		return fmt.Errorf("route %s: unknown handler %q (want echo, relay:LABEL, webhook:URL or sink)", r, r.Handler)
	}
	for k := range r.Labels {
		if err := session.CheckKey(k); err != nil {
			return fmt.Errorf("route %s: label: %w", r, err)
		}
	}
	return nil
}

// Config is the daemon's configuration. Everything in it can be changed by
// Reload except where a field says otherwise; connections already open keep
// the route and message limits they were accepted with.
type Config struct {
	// Routes; default a single "/=echo".
	Routes []Route
	// Subprotocols accepted, in order of preference.
	Subprotocols []string
	// AllowedOrigins are host patterns (path.Match syntax) allowed for
	// browser requests besides the same origin.
	AllowedOrigins []string
	// LabelsFromQuery names the query parameters that become labels.
	LabelsFromQuery []string
	// TrustedProxies: X-Forwarded-For is honoured only from these peers.
	TrustedProxies []netip.Prefix
	// NodeTag goes into every connection id (session.NodeTag of the
	// node's name in a cluster; 0, the default, for none). It is read at
	// New only.
	NodeTag uint16

	MaxMessageSize      int64 // bytes per message, after reassembly
	MaxFrameSize        int64 // bytes per frame; 0 means MaxMessageSize
	MaxConnections      int   // live connections and handshakes in progress
	MaxConnectionsPerIP int   // the same, per client IP; 0 = unlimited
	MaxHeaderBytes      int   // size of the handshake's request head

	HandshakeTimeout time.Duration // whole opening handshake (slowloris)
	PingInterval     time.Duration // a ping after this much time without one
	PongTimeout      time.Duration // close a connection whose pong is this late
	WriteTimeout     time.Duration // per write to a client
	CloseTimeout     time.Duration // each step of the closing handshake
	DrainTimeout     time.Duration // bound of Shutdown's graceful part

	// SendQueueBytes bounds the bytes queued for one connection; a
	// connection past it is closed with 1008 as a slow consumer.
	SendQueueBytes int

	// HandshakeRate is the sustained handshakes per second allowed per
	// client IP, with bursts of HandshakeBurst; 0 means unlimited.
	HandshakeRate  float64
	HandshakeBurst int

	// MaxMessagesPerSecond and MaxBytesPerSecond bound what one connection
	// may send: token buckets holding MaxMessagesBurst messages and
	// MaxBytesBurst bytes, refilled at these rates. A connection that
	// keeps sending faster, past its burst, is closed with 1008 (closed_by
	// policy); what it sent past the limit is not handled. 0 (the
	// default) is unlimited. A burst of 0 is one second's worth; the byte
	// burst is at least MaxMessageSize, so that one message never
	// exceeds it alone.
	MaxMessagesPerSecond float64
	MaxMessagesBurst     int
	MaxBytesPerSecond    int64
	MaxBytesBurst        int64

	// WebhookTimeout bounds each webhook request; WebhookMaxInFlight
	// bounds the requests in flight per connection (the connection's
	// reading waits for a slot: backpressure, not a queue).
	WebhookTimeout     time.Duration
	WebhookMaxInFlight int

	// WriteBufferSize is the protocol write buffer kept per connection.
	// Message data is batched in pooled buffers (internal/sender), so this
	// only has to hold a control frame; it is not reloadable per
	// connection.
	WriteBufferSize int

	// Compression is the permessage-deflate mode offered to clients that
	// ask for it (RFC 7692); the decompressed size of a message counts
	// against MaxMessageSize. Default NoContextTakeover, which every
	// browser accepts and which keeps no compression state on idle
	// connections; clients that do not offer compression are unaffected.
	Compression protocol.CompressionMode

	// TraceFrames says which frames of a traced session are recorded
	// (--trace-frames); it applies to connections accepted from then on.
	TraceFrames tracing.FrameMode

	// TestHandlers enables the test-panic handler (end-to-end tests only).
	TestHandlers bool
}

// DefaultConfig returns the defaults of every field.
func DefaultConfig() Config {
	return Config{
		Routes:              []Route{{Path: "/", Handler: HandlerEcho}},
		MaxMessageSize:      DefaultMaxMessageSize,
		MaxConnections:      DefaultMaxConnections,
		MaxConnectionsPerIP: DefaultMaxConnectionsPerIP,
		MaxHeaderBytes:      DefaultMaxHeaderBytes,
		HandshakeTimeout:    DefaultHandshakeTimeout,
		PingInterval:        DefaultPingInterval,
		PongTimeout:         DefaultPongTimeout,
		WriteTimeout:        DefaultWriteTimeout,
		CloseTimeout:        DefaultCloseTimeout,
		DrainTimeout:        DefaultDrainTimeout,
		SendQueueBytes:      DefaultSendQueueBytes,
		HandshakeRate:       DefaultHandshakeRate,
		HandshakeBurst:      DefaultHandshakeBurst,
		WebhookTimeout:      DefaultWebhookTimeout,
		WebhookMaxInFlight:  DefaultWebhookMaxInFlight,
		WriteBufferSize:     DefaultWriteBufferSize,
		Compression:         protocol.CompressionNoContextTakeover,
		TraceFrames:         tracing.DefaultFrameMode,
	}
}

// Validate reports every problem of c, each naming the setting.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(c.Routes) == 0 {
		bad("routes: at least one route is required")
	}
	if c.NodeTag > session.MaxNodeTag {
		bad("node tag: %d is over %d", c.NodeTag, session.MaxNodeTag)
	}
	seen := map[string]bool{}
	for _, r := range c.Routes {
		if err := r.validate(c.TestHandlers); err != nil {
			errs = append(errs, err)
		}
		if seen[r.Path] {
			bad("route %s: path %s appears twice", r, r.Path)
		}
		seen[r.Path] = true
	}
	for _, p := range c.Subprotocols {
		if p == "" || strings.ContainsAny(p, " ,;\t\"()<>@:/[]?={}\\") {
			bad("subprotocols: %q is not a token", p)
		}
	}
	for _, o := range c.AllowedOrigins {
		if o == "" || strings.Contains(o, "://") {
			bad("allowed-origins: %q: want a host pattern such as *.example.com, without scheme", o)
		}
	}
	for _, k := range c.LabelsFromQuery {
		if err := session.CheckKey(k); err != nil {
			bad("label-from-query: %v", err)
		}
	}
	for _, p := range c.TrustedProxies {
		if !p.IsValid() {
			bad("trusted-proxies: invalid prefix")
		}
	}
	if c.MaxMessageSize <= 0 {
		bad("max-message-size: %d must be positive", c.MaxMessageSize)
	}
	if c.MaxFrameSize < 0 || c.MaxFrameSize > c.MaxMessageSize {
		bad("max-frame-size: %d must be between 0 (same as max-message-size) and max-message-size %d", c.MaxFrameSize, c.MaxMessageSize)
	}
	if c.MaxConnections <= 0 {
		bad("max-connections: %d must be positive", c.MaxConnections)
	}
	if c.MaxConnectionsPerIP < 0 {
		bad("max-connections-per-ip: %d must be 0 (unlimited) or positive", c.MaxConnectionsPerIP)
	}
	if c.MaxHeaderBytes < 1024 {
		bad("max-header-bytes: %d must be at least 1024", c.MaxHeaderBytes)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"handshake-timeout", c.HandshakeTimeout},
		{"ping-interval", c.PingInterval},
		{"pong-timeout", c.PongTimeout},
		{"write-timeout", c.WriteTimeout},
		{"close-timeout", c.CloseTimeout},
		{"drain-timeout", c.DrainTimeout},
		{"webhook-timeout", c.WebhookTimeout},
	} {
		if d.v <= 0 {
			bad("%s: %v must be positive", d.name, d.v)
		}
	}
	if c.SendQueueBytes <= 0 {
		bad("send-queue-bytes: %d must be positive", c.SendQueueBytes)
	}
	if c.HandshakeRate < 0 {
		bad("handshake-rate: %v must be 0 (unlimited) or positive", c.HandshakeRate)
	}
	if c.HandshakeRate > 0 && c.HandshakeBurst < 1 {
		bad("handshake-burst: %d must be at least 1", c.HandshakeBurst)
	}
	if c.MaxMessagesPerSecond < 0 || c.MaxMessagesBurst < 0 {
		bad("max-messages-per-second: rate %v and burst %d must be 0 (unlimited, one second's worth) or positive", c.MaxMessagesPerSecond, c.MaxMessagesBurst)
	}
	if c.MaxBytesPerSecond < 0 || c.MaxBytesBurst < 0 {
		bad("max-bytes-per-second: rate %v and burst %d must be 0 (unlimited, one second's worth) or positive", c.MaxBytesPerSecond, c.MaxBytesBurst)
	}
	if c.WebhookMaxInFlight <= 0 {
		bad("webhook-max-in-flight: %d must be positive", c.WebhookMaxInFlight)
	}
	if c.TraceFrames > tracing.FramesAll {
		bad("trace-frames: mode %d is unknown", c.TraceFrames)
	}
	if c.Compression < protocol.CompressionDisabled || c.Compression > protocol.CompressionContextTakeover {
		bad("compression: mode %d is unknown", c.Compression)
	}
	// The write buffer must hold any control frame whole (internal/sender).
	if c.WriteBufferSize < minWriteBuffer {
		bad("write-buffer-size: %d must be at least %d", c.WriteBufferSize, minWriteBuffer)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

// minWriteBuffer holds the largest control frame: 2 bytes of header and 125
// of payload (server frames are not masked).
const minWriteBuffer = 2 + 125

// closeOK reports whether code and reason may be sent in a close frame.
func closeOK(code int, reason string) bool {
	if len(reason) > protocol.MaxCloseReason || !utf8.ValidString(reason) {
		return false
	}
	return protocol.StatusCode(code).ValidReceived()
}
