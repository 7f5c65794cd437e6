package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/wsd-dev/wsd/daemon/internal/poller"
	"github.com/wsd-dev/wsd/daemon/internal/sender"
	"github.com/wsd-dev/wsd/protocol"
	"github.com/wsd-dev/wsd/session"
	"github.com/wsd-dev/wsd/tracing"
)

// Deps are the daemon's collaborators, built by main.
type Deps struct {
	Logger        *slog.Logger  // nil: discard
	Recorder      Recorder      // nil: sessions are not recorded
	Authenticator Authenticator // nil: clients are anonymous
	// HTTPClient makes webhook requests; nil: a client with bounded
	// connection pools (timeouts come from Config.WebhookTimeout).
	HTTPClient *http.Client
	// TracerProvider traces sessions (tracing package doc); nil or a
	// no-op provider: no tracing, at no cost.
	TracerProvider trace.TracerProvider
	// Metrics receives the daemon's Prometheus collectors (metrics.go);
	// nil: none.
	Metrics prometheus.Registerer
	// RelayBus carries relay:LABEL messages to the other nodes of a
	// cluster; nil: rooms are local to this node.
	RelayBus RelayBus
}

// RelayBus carries the messages of relay routes between nodes (package
// cluster implements it). PublishRelay must not block and must not keep p
// after it returns; the daemon has already delivered the message to the
// room's members on this node. Messages arriving from other nodes come
// back through Daemon.DeliverRelay.
type RelayBus interface {
	PublishRelay(route, room string, typ session.MessageType, p []byte)
}

// Daemon holds the live connections and serves WebSocket listeners.
type Daemon struct {
	log *slog.Logger
	rec Recorder
	// relayBus is Deps.RelayBus; nil on a single node.
	relayBus RelayBus
	auth     Authenticator
	client   *http.Client
	tracer   trace.Tracer // nil: tracing off
	met      *metrics     // nil: no metrics

	cfg      atomic.Pointer[runtimeConfig]
	reloadMu sync.Mutex // serialises Reload

	hub      *hub
	ids      idGen
	ips      *ipTable
	admitted atomic.Int64 // live connections plus handshakes in progress
	stats    stats
	events   *events
	hooks    *hookDispatcher
	started  time.Time
	lastScan atomic.Int64

	lnMu      sync.Mutex // guards listeners, pending and the draining flip
	listeners map[net.Listener]struct{}
	pending   map[net.Conn]struct{} // connections in their handshake
	draining  atomic.Bool
	cordoned  atomic.Bool // refuse new upgrades; live connections stay (drain.go)
	taps      tapper      // wsctl tail (tap.go)
	drain     drainer

	connWG  sync.WaitGroup // serveConn goroutines and live connections
	bgWG    sync.WaitGroup // keepalive scanner, poller
	poller  *poller.Poller // holds idle connections; nil: not available
	workers *workers       // run handshakes and wake-ups

	sendLimits sender.Limits // write timeout and queue bytes, for every connection's sender
	stopBG     chan struct{}
	shutOnce   sync.Once
	shutErr    error
}

// runtimeConfig is a validated Config with its routes compiled. It is
// replaced whole by Reload and never modified.
type runtimeConfig struct {
	Config
	exact       map[string]*route
	prefix      []*route // paths ending in "/", longest first
	compression *protocol.CompressionOptions
	// inbound: the inbound limits apply; their bursts, as set or derived.
	inbound              bool
	inMsgBurst, inBBurst float64
}

// New validates cfg and returns a daemon ready to Serve.
func New(cfg Config, deps Deps) (*Daemon, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := &Daemon{
		log:       deps.Logger,
		rec:       deps.Recorder,
		relayBus:  deps.RelayBus,
		auth:      deps.Authenticator,
		client:    deps.HTTPClient,
		hub:       newHub(),
		ips:       newIPTable(),
		events:    newEvents(),
		started:   time.Now(),
		listeners: make(map[net.Listener]struct{}),
		pending:   make(map[net.Conn]struct{}),
		stopBG:    make(chan struct{}),
		drain:     drainer{stop: make(chan struct{})},
	}
	d.ids.tag = cfg.NodeTag
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.rec == nil {
		d.rec = nopRecorder{}
	}
	if d.client == nil {
		d.client = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:          256,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: cfg.WebhookTimeout,
		}}
	}
	if !tracing.IsNoop(deps.TracerProvider) {
		d.tracer = deps.TracerProvider.Tracer(tracing.ScopeName)
	}
	if deps.Metrics != nil {
		m, err := newMetrics(d, deps.Metrics)
		if err != nil {
			return nil, fmt.Errorf("daemon metrics: %w", err)
		}
		d.met = m
	}
	d.workers = newWorkers(d)
	d.cfg.Store(d.compile(cfg, nil))
	d.setSendLimits(cfg)
	d.hooks = newHookDispatcher(d.log)
	d.lastScan.Store(d.started.UnixNano())
	if p, err := poller.New(); err != nil {
		d.log.Debug("no poller: idle connections keep a goroutine", "err", err)
	} else {
		d.poller = p
		d.bgWG.Add(1)
		go func() {
			defer d.bgWG.Done()
			if err := p.Run(); err != nil {
				// Parked connections would then wait for a close to
				// resume them.
				d.log.Error("poller stopped", "err", err)
			}
		}()
	}
	d.bgWG.Add(1)
	go d.keepalive()
	return d, nil
}

func (d *Daemon) config() *runtimeConfig { return d.cfg.Load() }

// setSendLimits gives every connection's sender the limits of cfg.
func (d *Daemon) setSendLimits(cfg Config) {
	d.sendLimits.WriteTimeout.Store(int64(cfg.WriteTimeout))
	d.sendLimits.QueueBytes.Store(int64(cfg.SendQueueBytes))
}

// Config returns the configuration in force.
func (d *Daemon) Config() Config { return d.config().Config }

// now returns the current time.
func (d *Daemon) now() time.Time { return time.Now() }

// compile builds a runtimeConfig, reusing the compiled routes of old that
// did not change.
func (d *Daemon) compile(cfg Config, old *runtimeConfig) *runtimeConfig {
	rc := &runtimeConfig{Config: cfg, exact: make(map[string]*route)}
	if rc.MaxFrameSize == 0 {
		rc.MaxFrameSize = rc.MaxMessageSize
	}
	rc.compileInbound()
	if cfg.Compression != protocol.CompressionDisabled {
		rc.compression = &protocol.CompressionOptions{Mode: cfg.Compression}
	}
	for _, r := range cfg.Routes {
		var rt *route
		if old != nil {
			if prev := old.lookup(r.Path); prev != nil && sameRoute(prev.Route, r) {
				rt = prev
			}
		}
		if rt == nil {
			rt = &route{Route: r, h: newHandler(d, r)}
			rt.Labels = maps.Clone(r.Labels)
		}
		if strings.HasSuffix(r.Path, "/") {
			rc.prefix = append(rc.prefix, rt)
		} else {
			rc.exact[r.Path] = rt
		}
	}
	// Longest prefix first.
	for i := 1; i < len(rc.prefix); i++ {
		for j := i; j > 0 && len(rc.prefix[j].Path) > len(rc.prefix[j-1].Path); j-- {
			rc.prefix[j], rc.prefix[j-1] = rc.prefix[j-1], rc.prefix[j]
		}
	}
	return rc
}

func sameRoute(a, b Route) bool {
	return a.Path == b.Path && a.Handler == b.Handler && a.Arg == b.Arg && maps.Equal(a.Labels, b.Labels)
}

// lookup finds the route declared with exactly this path.
func (rc *runtimeConfig) lookup(path string) *route {
	if rt, ok := rc.exact[path]; ok {
		return rt
	}
	for _, rt := range rc.prefix {
		if rt.Path == path {
			return rt
		}
	}
	return nil
}

// match finds the route serving a request path.
func (rc *runtimeConfig) match(path string) *route {
	if rt, ok := rc.exact[path]; ok {
		return rt
	}
	for _, rt := range rc.prefix {
		if strings.HasPrefix(path, rt.Path) {
			return rt
		}
	}
	return nil
}

// Reload validates cfg and makes it the configuration for everything that
// happens from now on: new handshakes use the new routes and limits; live
// connections keep their route and message limits, and take the new
// keepalive, write and queue limits. On error the old configuration stays.
// The returned list names the settings that changed.
func (d *Daemon) Reload(cfg Config) ([]string, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	old := d.config()
	rc := d.compile(cfg, old)
	d.cfg.Store(rc)
	d.setSendLimits(cfg)
	// Compared as compiled: compile fills in defaults (MaxFrameSize), and
	// an unchanged setting must not be reported as changed.
	return configDiff(old.Config, rc.Config), nil
}

// configDiff names the fields of Config that differ.
func configDiff(a, b Config) []string {
	var out []string
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	for i := range va.NumField() {
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			out = append(out, va.Type().Field(i).Name)
		}
	}
	return out
}

// trackListener adds or removes a listener from the set Shutdown closes.
func (d *Daemon) trackListener(ln net.Listener, add bool) bool {
	d.lnMu.Lock()
	defer d.lnMu.Unlock()
	if add {
		if d.draining.Load() {
			return false
		}
		d.listeners[ln] = struct{}{}
		return true
	}
	delete(d.listeners, ln)
	return true
}

// trackHandshake adds nc to (or removes it from) the handshakes that
// Shutdown interrupts; adding fails once draining.
func (d *Daemon) trackHandshake(nc net.Conn, add bool) bool {
	d.lnMu.Lock()
	defer d.lnMu.Unlock()
	if add {
		if d.draining.Load() {
			return false
		}
		d.pending[nc] = struct{}{}
		return true
	}
	delete(d.pending, nc)
	return true
}

// Ready reports whether the daemon takes new connections: not shutting
// down, not cordoned.
func (d *Daemon) Ready() bool { return !d.draining.Load() && !d.cordoned.Load() }

// Healthy reports whether the daemon's own machinery runs: the keepalive
// scanner has completed a pass recently. The systemd watchdog is fed from
// here, so a wedged daemon stops feeding it.
func (d *Daemon) Healthy() error {
	last := time.Unix(0, d.lastScan.Load())
	limit := 3*scanTick(d.config()) + 2*time.Second
	if age := time.Since(last); age > limit {
		return fmt.Errorf("keepalive scanner last ran %v ago", age.Round(time.Millisecond))
	}
	return nil
}

// drainBatch is how many closing handshakes Shutdown runs at once, and
// drainPause the pause between batches: 10,000 connections take about a
// second to be told, which spreads their reconnections (NATS lame duck,
// centrifuge's shutdown semaphore).
const (
	drainBatch = 128
	drainPause = 10 * time.Millisecond
)

// Shutdown drains the daemon: it stops accepting (closes every listener
// given to Serve), refuses handshakes in progress, closes every connection
// with 1001 "going away" in paced batches, and waits for all of them to be
// recorded. When ctx is done first the remaining connections are closed at
// once (still recorded as shutdown) and ctx's error is returned. Calling
// it again returns the first result.
func (d *Daemon) Shutdown(ctx context.Context) error {
	d.shutOnce.Do(func() { d.shutErr = d.shutdown(ctx) })
	return d.shutErr
}

func (d *Daemon) shutdown(ctx context.Context) error {
	d.stopDrain() // the connections a drain had left get going away below
	d.lnMu.Lock()
	d.draining.Store(true)
	var errs []error
	for ln := range d.listeners {
		if err := closeListener(ln); err != nil {
			errs = append(errs, fmt.Errorf("close listener %s: %w", ln.Addr(), err))
		}
	}
	// Handshakes in progress fail now instead of at their timeout.
	for nc := range d.pending {
		if err := nc.SetDeadline(time.Unix(1, 0)); err != nil {
			d.log.Debug("interrupt handshake", "remote_addr", nc.RemoteAddr().String(), "err", err)
		}
	}
	d.lnMu.Unlock()
	d.hub.close()

	going := closeCause{by: session.ClosedByShutdown, code: int(protocol.StatusGoingAway), reason: "going away"}
	n := 0
	var ctxErr error
	d.hub.each(nil, func(c *conn) bool {
		c.initClose(going)
		n++
		if n%drainBatch == 0 {
			t := time.NewTimer(drainPause)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				ctxErr = ctx.Err()
				return false
			}
		}
		return true
	})
	d.log.Info("drain: going away sent", "connections", n)

	done := make(chan struct{})
	go func() { d.connWG.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		ctxErr = ctx.Err()
	}
	if ctxErr != nil {
		forced := 0
		d.hub.each(nil, func(c *conn) bool {
			cause := going
			cause.err = "forced: drain timeout"
			c.forceClose(cause)
			forced++
			return true
		})
		d.log.Warn("drain timeout: connections closed without handshake", "forced", forced)
		<-done
		errs = append(errs, fmt.Errorf("drain: %w", ctxErr))
	}
	d.workers.close()
	close(d.stopBG)
	if d.poller != nil {
		if err := d.poller.Shutdown(); err != nil {
			errs = append(errs, err)
		}
	}
	d.bgWG.Wait()
	// Close events of the connections just closed get what is left of
	// ctx, or a second when it is already gone.
	hctx := ctx
	if ctxErr != nil {
		var cancel context.CancelFunc
		hctx, cancel = context.WithTimeout(context.Background(), time.Second)
		defer cancel()
	}
	if err := d.hooks.stop(hctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
