package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/session"
	"github.com/wsd-dev/wsd/tracing"
)

// Defaults of Config.
const (
	DefaultBulkConfirmThreshold = 10
	DefaultMaxBodyBytes         = 2 << 20 // a 1 MiB message in base64, with room
	DefaultEventBuffer          = 256
	DefaultMaxEventSubscribers  = 64
	DefaultHeartbeatInterval    = 15 * time.Second
	DefaultEventWriteTimeout    = 10 * time.Second
	// DefaultEventStreamMaxAge renews every event stream this often (the
	// client reconnects with Last-Event-ID and loses nothing), so that a
	// client that never reads cannot hold a stream for ever while too
	// little is written to fill its socket and trip EventWriteTimeout.
	DefaultEventStreamMaxAge = 15 * time.Minute
	DefaultCloseWait         = 30 * time.Second
	DefaultMaxHeaderBytes    = 16 << 10
	// DefaultRefusedAuditPerSecond bounds the audit entries of refused
	// calls, so that a client hammering the API with bad tokens cannot
	// grow the audit log without limit.
	DefaultRefusedAuditPerSecond = 10
)

// Config configures the admin API. The zero value of every field but
// BulkConfirmThreshold means its default.
type Config struct {
	// BulkConfirmThreshold: a bulk close matching more connections than
	// this must carry "confirm" equal to the match count; 0 asks it of
	// every bulk close, negative of none. It has no default: see
	// DefaultConfig.
	BulkConfirmThreshold int
	// MaxBodyBytes caps request bodies (413 past it).
	MaxBodyBytes int64
	// MaxHeaderBytes caps a request's head (431 past it). The
	// http.Server in front should allow more (MaxHeaderBytes * 4), so
	// that the answer is this API's JSON rather than net/http's text.
	MaxHeaderBytes int
	// RefusedAuditPerSecond bounds the audit entries written for calls
	// refused with 401 or 403; past it they are counted and logged.
	RefusedAuditPerSecond int
	// AllowedHosts are host names accepted in the Host header besides IP
	// literals and localhost (DNS rebinding protection).
	AllowedHosts []string
	// AllowedOrigins are origins ("https://console.example.com") allowed
	// besides the same origin for requests that carry an Origin header.
	AllowedOrigins []string
	// EventBuffer bounds the events waiting for each /v1/events subscriber;
	// past it the subscriber loses events and is told how many.
	EventBuffer int
	// MaxEventSubscribers bounds concurrent /v1/events streams (429 past it).
	MaxEventSubscribers int
	// HeartbeatInterval is the period of SSE comments that keep idle
	// streams (and proxies in front of them) alive.
	HeartbeatInterval time.Duration
	// EventWriteTimeout ends a stream whose client does not read.
	EventWriteTimeout time.Duration
	// EventStreamMaxAge ends a stream with an "end" event of reason
	// "reconnect" once it is this old.
	EventStreamMaxAge time.Duration
	// CloseWait bounds how long DELETE /v1/connections/{id} waits for the
	// closing handshake before answering 202.
	CloseWait time.Duration
	// Version is reported by /v1/stats and /v1/nodes.
	Version string
	// Node names this node in GET /v1/nodes on a single node (a fleet's
	// Hub names its nodes itself).
	Node string
	// Address is this node's admin address, for GET /v1/nodes on a single
	// node.
	Address string
	// TraceURL is a link to a trace, "{trace_id}" standing for its id
	// (wsd --trace-url), for GET /v1/sessions/{id}/why; "": none.
	TraceURL string
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{BulkConfirmThreshold: DefaultBulkConfirmThreshold}.withDefaults()
}

func (c Config) withDefaults() Config {
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.RefusedAuditPerSecond <= 0 {
		c.RefusedAuditPerSecond = DefaultRefusedAuditPerSecond
	}
	if c.EventBuffer <= 0 {
		c.EventBuffer = DefaultEventBuffer
	}
	if c.MaxEventSubscribers <= 0 {
		c.MaxEventSubscribers = DefaultMaxEventSubscribers
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.EventWriteTimeout <= 0 {
		c.EventWriteTimeout = DefaultEventWriteTimeout
	}
	if c.EventStreamMaxAge <= 0 {
		c.EventStreamMaxAge = DefaultEventStreamMaxAge
	}
	if c.CloseWait <= 0 {
		c.CloseWait = DefaultCloseWait
	}
	return c
}

// Deps are the admin API's collaborators.
type Deps struct {
	Hub     Hub
	History History
	Tokens  Tokens
	Logger  *slog.Logger     // nil: discard
	Now     func() time.Time // nil: time.Now
	// TracerProvider traces every request (tracing.Middleware); nil: none.
	TracerProvider trace.TracerProvider
	// Node cordons and drains this node; nil: those endpoints answer 501.
	Node Node
}

// Server is the admin API. It is an http.Handler for the /v1 tree.
type Server struct {
	cfg  Config
	hub  Hub
	hist History
	// fleet and fleetHist are hub and hist when they answer for several
	// nodes (package cluster); nil on a single node.
	fleet     FleetHub
	fleetHist FleetHistory
	verbs     FleetVerbs // the fleet's verbs on other nodes; nil on a single node
	tokens    Tokens
	local     Node // nil: no cordon or drain
	log       *slog.Logger
	now       func() time.Time
	tp        trace.TracerProvider

	router   chi.Router
	policies map[string]policy // "METHOD /pattern" → who may call it

	subscribers atomic.Int32        // /v1/events streams, counted from their request
	attached    atomic.Int32        // of those, the ones reading the journal (stats)
	journal     *journal            // numbered recent events for every stream
	rates       session.RateSampler // this node's, when it is not in a fleet
	refused     refusedLimiter      // audit entries of refused calls

	// life is cancelled by Shutdown; event streams end with it.
	life     context.Context
	shutdown context.CancelFunc
}

// New returns the admin API.
func New(cfg Config, deps Deps) (*Server, error) {
	if deps.Hub == nil || deps.History == nil || deps.Tokens == nil {
		return nil, errors.New("admin: Hub, History and Tokens are required")
	}
	s := &Server{
		cfg:      cfg.withDefaults(),
		hub:      deps.Hub,
		hist:     deps.History,
		tokens:   deps.Tokens,
		local:    deps.Node,
		log:      deps.Logger,
		now:      deps.Now,
		tp:       deps.TracerProvider,
		policies: map[string]policy{},
	}
	s.fleet, _ = deps.Hub.(FleetHub)
	s.fleetHist, _ = deps.History.(FleetHistory)
	if s.fleet != nil {
		s.verbs, _ = deps.Hub.(FleetVerbs)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.life, s.shutdown = context.WithCancel(context.Background())
	s.journal = newJournal(DefaultEventJournal, strconv.FormatInt(s.now().UnixNano(), 36))
	if s.fleet == nil {
		// A fleet's nodes sample their own rates (package cluster).
		go s.rates.Run(s.life, s.hub.Stats, s.now) // ends with Shutdown
	}
	s.router = s.routes()
	return s, nil
}

// routes builds the router. Every route goes through s.handle with its
// policy (PRODUCT.md §4).
func (s *Server) routes() chi.Router {
	r := chi.NewRouter()
	// Tracing first, so that refused and failed requests are traced too;
	// a call about one connection (or its session) carries its id, which
	// a Jaeger search for the connection then finds.
	r.Use(tracing.Middleware(s.tp, &tracing.HTTPOptions{Annotate: func(r *http.Request) []attribute.KeyValue {
		if id := r.PathValue("id"); id != "" {
			return []attribute.KeyValue{tracing.ConnectionID.String(id)}
		}
		return nil
	}}))
	r.Use(s.recoverPanic, s.guard)
	r.NotFound(s.endpoint(anyToken, func(http.ResponseWriter, *http.Request) error {
		return errorf(http.StatusNotFound, apitype.CodeNotFound, "no such endpoint")
	}))
	r.MethodNotAllowed(s.endpoint(anyToken, func(w http.ResponseWriter, req *http.Request) error {
		allow := allowed(r, req.URL.Path)
		w.Header().Set("Allow", strings.Join(allow, ", "))
		return errorf(http.StatusMethodNotAllowed, apitype.CodeMethodNotAllowed, "method %s not allowed on %s (allowed: %s)", req.Method, req.URL.Path, strings.Join(allow, ", "))
	}))

	s.handle(r, http.MethodGet, "/v1/openapi.json", anyToken, s.openAPI)
	s.handle(r, http.MethodGet, "/v1/connections", scope(apitype.ScopeConnectionsRead), s.listConnections)
	s.handle(r, http.MethodGet, "/v1/connections/{id}", scope(apitype.ScopeConnectionsRead), s.getConnection)
	s.handle(r, http.MethodPost, "/v1/connections/{id}/messages", scope(apitype.ScopeConnectionsWrite), s.sendMessage)
	s.handle(r, http.MethodDelete, "/v1/connections/{id}", scope(apitype.ScopeConnectionsClose), s.closeConnection)
	s.handle(r, http.MethodPost, "/v1/connections/{id}/trace", scope(apitype.ScopeConnectionsWrite), s.traceConnection)
	s.handle(r, http.MethodPost, "/v1/broadcast", scope(apitype.ScopeConnectionsWrite), s.broadcast)
	s.handle(r, http.MethodPost, "/v1/close", scope(apitype.ScopeConnectionsClose), s.closeSelected)
	s.handle(r, http.MethodGet, "/v1/sessions", scope(apitype.ScopeSessionsRead), s.listSessions)
	s.handle(r, http.MethodGet, "/v1/sessions/{id}", scope(apitype.ScopeSessionsRead), s.getSession)
	s.handle(r, http.MethodGet, "/v1/sessions/{id}/why", scope(apitype.ScopeSessionsRead), s.why)
	s.handle(r, http.MethodGet, "/v1/events", scope(apitype.ScopeConnectionsRead), s.events)
	s.handle(r, http.MethodGet, "/v1/tap", scope(apitype.ScopeConnectionsRead), s.tap)
	s.handle(r, http.MethodGet, "/v1/stats", scope(apitype.ScopeConnectionsRead), s.stats)
	s.handle(r, http.MethodGet, "/v1/audit", scope(apitype.ScopeAuditRead), s.listAudit)
	s.handle(r, http.MethodGet, "/v1/nodes", scope(apitype.ScopeConnectionsRead), s.listNodes)
	s.handle(r, http.MethodPost, "/v1/cordon", scope(apitype.ScopeConnectionsClose), s.cordon)
	s.handle(r, http.MethodDelete, "/v1/cordon", scope(apitype.ScopeConnectionsClose), s.uncordon)
	s.handle(r, http.MethodPost, "/v1/drain", scope(apitype.ScopeConnectionsClose), s.startDrain)
	s.handle(r, http.MethodGet, "/v1/drain", scope(apitype.ScopeConnectionsRead), s.getDrain)
	return r
}

// localConnection finds a connection on this node only.
func (s *Server) localConnection(id string) (session.Conn, error) {
	if s.fleet != nil {
		return s.fleet.LocalConnection(id)
	}
	return s.hub.Connection(id)
}

// count counts the connections sel matches (fleet-wide in a fleet).
func (s *Server) count(sel session.Selector) (int, apitype.Fleet) {
	if s.fleet != nil {
		return s.fleet.FleetCount(sel)
	}
	return s.hub.Count(sel), apitype.Fleet{}
}

// allowed lists the methods r routes for path, for a 405's Allow header
// (RFC 9110 §15.5.6).
func allowed(r chi.Router, path string) []string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if r.Match(chi.NewRouteContext(), m, path) {
			out = append(out, m)
		}
	}
	return out
}

// handlerFunc is an endpoint: it writes its answer, or returns the error
// that writeError renders.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle registers an endpoint with its policy; a route is never
// registered without one.
func (s *Server) handle(r chi.Router, method, pattern string, p policy, h handlerFunc) {
	key := method + " " + pattern
	if _, dup := s.policies[key]; dup {
		panic(fmt.Sprintf("admin: route %s registered twice", key))
	}
	s.policies[key] = p
	r.Method(method, pattern, s.endpoint(p, h))
}

// endpoint authenticates and authorizes the request under p, then runs h
// and renders its error.
func (s *Server) endpoint(p policy, h handlerFunc) http.HandlerFunc {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		claims, err := s.authorize(r, p)
		if err == nil {
			r = r.WithContext(withClaims(r.Context(), claims))
			err = h(w, r)
		}
		if err != nil {
			s.writeError(w, r, err)
			s.auditRefused(r, claims, err)
		}
		subject := ""
		if claims != nil {
			subject = claims.Subject
		}
		s.log.Debug("admin request", "method", r.Method, "path", r.URL.Path, "subject", subject,
			"elapsed", s.now().Sub(start), "err", err)
	})
}

// Guard returns h behind the checks the /v1 tree has (Host, Origin, no
// upgrades, head size), answered in the API's JSON error format. cmd/wsd
// puts /metrics, /healthz and /readyz behind it, so that the whole admin
// listener refuses a foreign Host.
func (s *Server) Guard(h http.Handler) http.Handler { return s.recoverPanic(s.guard(h)) }

// ServeHTTP serves the /v1 tree.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.router.ServeHTTP(w, r) }

// Shutdown ends the event streams (http.Server.Shutdown waits for active
// requests, and a stream never ends by itself) and the stats sampler.
// Register it with http.Server.RegisterOnShutdown.
func (s *Server) Shutdown() { s.shutdown() }
