// Package cluster joins several wsd nodes into one fleet over a NATS
// server (PRODUCT.md §13). A Node implements what the admin API consumes
// (its Hub and History, fleet-wide, and its optional fleet interfaces) and
// what the daemon consumes (its RelayBus), over the local node's own
// daemon and store, so that neither admin nor daemon links NATS.
//
// Patterns: NATS request/reply with scatter-gather (one reply inbox, a
// deadline, the answers that came), Nomad's node heartbeats (a node is
// gone once its heartbeat is older than a TTL), Centrifugo's NATS broker
// (one subject per publishing node keeps a publisher's order).
//
// Subjects, under Config.Prefix (P):
//
//	P.hb                    heartbeats (JSON presence), every HeartbeatInterval
//	P.leave                 a node leaving on a clean stop
//	P.rpc.all.OP            a request to every node (scatter-gather)
//	P.rpc.node.NAME.OP      a request to one node
//	P.events.NAME           a node's connection events
//	P.relay.NAME            a node's relay:LABEL messages, in publish order
//	_INBOX.…                a tap's events, from the tapped node to the one
//	                        that asked (tap.go), leased and renewed by
//	                        P.rpc.node.NAME.tap_lease
//
// No token travels on the bus: the node that receives an admin call
// verifies it and writes its audit entry; NATS authenticates the nodes.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsd-dev/wsd/session"
)

// Defaults of Config.
const (
	DefaultPrefix            = "wsd"
	DefaultTimeout           = 2 * time.Second
	DefaultHeartbeatInterval = time.Second
	DefaultNodeTTL           = 3 * time.Second
)

// Config configures a Node.
type Config struct {
	// URLs are the NATS servers ("nats://host:4222"); at least one.
	URLs []string
	// Name is the node's name, unique in the fleet (e.g. the host name).
	Name string
	// Prefix starts every subject, so that fleets can share one NATS.
	Prefix string
	// Address is the node's admin listener, shown by GET /v1/nodes.
	Address string
	// Version is the node's wsd version, shown by GET /v1/nodes.
	Version string
	// Timeout bounds each fleet-wide request: a node that has not answered
	// by then is missing from the (partial) answer.
	Timeout time.Duration
	// HeartbeatInterval is the period of presence heartbeats; a node whose
	// last one is older than NodeTTL leaves the fleet.
	HeartbeatInterval time.Duration
	NodeTTL           time.Duration
	// Auth authenticates the node to NATS.
	Auth Auth
}

// Auth holds the NATS authentication options nats.go offers. Empty fields
// are not used.
type Auth struct {
	CredsFile string // a user JWT and NKey seed (.creds)
	NKeyFile  string // an NKey seed file
	User      string
	Password  string
	Token     string
	CAFile    string // root CAs of the servers' certificates
	CertFile  string // client certificate (with KeyFile)
	KeyFile   string
}

func (c Config) withDefaults() Config {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.NodeTTL <= 0 {
		c.NodeTTL = DefaultNodeTTL
	}
	return c
}

// Validate checks c.
func (c Config) Validate() error {
	if len(c.URLs) == 0 {
		return errors.New("cluster: at least one NATS URL is required")
	}
	if c.Name == "" || strings.ContainsAny(c.Name, ".*> \t\r\n") {
		return fmt.Errorf("cluster: node name %q: want a non-empty name without '.', '*', '>' or spaces", c.Name)
	}
	if strings.ContainsAny(c.Prefix, "*> \t\r\n") || strings.HasPrefix(c.Prefix, ".") || strings.HasSuffix(c.Prefix, ".") {
		return fmt.Errorf("cluster: prefix %q: want a subject prefix without wildcards or spaces", c.Prefix)
	}
	if (c.Auth.CertFile == "") != (c.Auth.KeyFile == "") {
		return errors.New("cluster: a client certificate needs both its certificate and key files")
	}
	if c.Auth.Password != "" && c.Auth.User == "" {
		return errors.New("cluster: a password needs a user")
	}
	return nil
}

// Local is what a Node needs of its own daemon (*daemon.Daemon): the live
// connections of this node.
type Local interface {
	Connections(sel session.Selector, after string, limit int) ([]session.Conn, string, error)
	Connection(id string) (session.Conn, error)
	SendContext(ctx context.Context, id string, typ session.MessageType, p []byte) error
	BroadcastContext(ctx context.Context, sel session.Selector, typ session.MessageType, p []byte) session.BroadcastResult
	Close(ctx context.Context, id string, code int, reason string) error
	CloseSelected(sel session.Selector, all bool, code int, reason string) (int, error)
	Count(sel session.Selector) int
	Stats() session.Stats
	WatchSubscribed(ctx context.Context, buffer int, subscribed func(), fn func(session.Event) bool) error
	Watchers() int
	// DeliverRelay delivers a relay message from another node to the
	// room's members here.
	DeliverRelay(route, room string, typ session.MessageType, p []byte) int

	// The operator verbs (PRODUCT.md §10), which other nodes run here
	// through the bus (verbs.go, tap.go).
	Cordon()
	Uncordon() error
	Cordoned() bool
	Drain(ctx context.Context, sel session.Selector, over time.Duration, code int, reason string) (session.DrainStatus, error)
	DrainStatus() (session.DrainStatus, bool)
	Limits(by session.ClosedBy, code int, errText string) []session.Limit
	TraceConnection(id string, span time.Duration) (session.TraceArm, error)
	ConnectionTrace(id string) (session.TraceArm, bool)
	Tap(ctx context.Context, sel session.Selector, id string, preview, buffer int, subscribed func(), fn func(ev session.TapEvent, dropped uint64) bool) error
}

// LocalHistory is what a Node needs of its own session history
// (*store.Store).
type LocalHistory interface {
	ListSessions(ctx context.Context, f session.Filter) (session.Page, error)
	GetSession(ctx context.Context, id string) (session.Record, error)
	ListAudit(ctx context.Context, f session.AuditFilter) ([]session.AuditEntry, error)
	RecordAudit(a session.AuditEntry)
	Health() session.Health
}

// Deps are a Node's collaborators.
type Deps struct {
	Logger *slog.Logger // nil: discard
	// Metrics receives the cluster's Prometheus collectors; nil: none.
	Metrics prometheus.Registerer
	// Options are added to the NATS connection's (tests).
	Options []nats.Option
}

// Node is this wsd instance as a member of the fleet. Create it with New
// (it can publish relay messages at once), give it the local daemon and
// history with Start, and Stop it at shutdown.
type Node struct {
	cfg     Config
	log     *slog.Logger
	nc      *nats.Conn
	metrics *metrics
	started time.Time
	tag     uint16

	local Local
	hist  LocalHistory

	peers *presence

	// life ends with Stop; every goroutine of the Node is in wg.
	life   context.Context
	stop   context.CancelFunc
	wg     sync.WaitGroup
	subsMu sync.Mutex
	subs   []*nats.Subscription

	stateMu   sync.Mutex
	connected bool

	// rates samples this node's totals; other nodes read its rates with
	// its stats.
	rates session.RateSampler

	// taps are the taps this node serves for other nodes, by stream
	// (tap.go); tapLease is how long one lives without a renewal.
	tapMu    sync.Mutex
	taps     map[string]*servedTap
	tapLease time.Duration
}

// New connects to NATS (retrying in the background when no server answers
// yet: the node serves its own connections meanwhile).
func New(cfg Config, deps Deps) (*Node, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{
		cfg:      cfg,
		log:      deps.Logger,
		started:  time.Now(),
		tag:      session.NodeTag(cfg.Name),
		tapLease: DefaultTapLease,
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	n.log = n.log.With("node", cfg.Name)
	n.peers = newPresence(cfg.Name)
	m, err := newMetrics(deps.Metrics, n)
	if err != nil {
		return nil, err
	}
	n.metrics = m
	n.life, n.stop = context.WithCancel(context.Background())
	opts, err := cfg.natsOptions()
	if err != nil {
		return nil, err
	}
	opts = append(opts,
		nats.Name("wsd "+cfg.Name),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(250*time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.PingInterval(2*time.Second),
		nats.MaxPingsOutstanding(2),
		// The callbacks get the connection as an argument: n.nc is set
		// only after Connect returns, while they may already run.
		nats.ConnectHandler(func(c *nats.Conn) { n.setConnected(true, nil, c.ConnectedUrlRedacted()) }),
		nats.ReconnectHandler(func(c *nats.Conn) { n.setConnected(true, nil, c.ConnectedUrlRedacted()) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { n.setConnected(false, err, "") }),
		nats.ErrorHandler(func(_ *nats.Conn, s *nats.Subscription, err error) {
			subj := ""
			if s != nil {
				subj = s.Subject
			}
			n.log.Warn("cluster: NATS error", "subject", subj, "err", err)
		}),
	)
	opts = append(opts, deps.Options...)
	nc, err := nats.Connect(strings.Join(cfg.URLs, ","), opts...)
	if err != nil {
		return nil, fmt.Errorf("cluster: connect to %s: %w", strings.Join(cfg.URLs, ","), err)
	}
	n.nc = nc
	if nc.IsConnected() {
		n.setConnected(true, nil, nc.ConnectedUrlRedacted())
	} else {
		n.log.Warn("cluster: NATS not reachable yet; serving this node alone and retrying", "servers", strings.Join(cfg.URLs, ","))
	}
	return n, nil
}

func (c Config) natsOptions() ([]nats.Option, error) {
	var opts []nats.Option
	a := c.Auth
	if a.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(a.CredsFile))
	}
	if a.NKeyFile != "" {
		o, err := nats.NkeyOptionFromSeed(a.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("cluster: NKey seed file: %w", err)
		}
		opts = append(opts, o)
	}
	if a.User != "" {
		opts = append(opts, nats.UserInfo(a.User, a.Password))
	}
	if a.Token != "" {
		opts = append(opts, nats.Token(a.Token))
	}
	if a.CAFile != "" {
		opts = append(opts, nats.RootCAs(a.CAFile))
	}
	if a.CertFile != "" {
		opts = append(opts, nats.ClientCert(a.CertFile, a.KeyFile))
	}
	return opts, nil
}

// Name is the node's name.
func (n *Node) Name() string { return n.cfg.Name }

// Connected reports whether the node is connected to NATS now.
func (n *Node) Connected() bool { return n.nc.IsConnected() }

// setConnected logs each change of the link's state once.
func (n *Node) setConnected(up bool, err error, server string) {
	n.stateMu.Lock()
	changed := n.connected != up
	n.connected = up
	n.stateMu.Unlock()
	if !changed {
		return
	}
	if up {
		n.peers.reconnected(time.Now())
		n.log.Info("cluster: connected to NATS", "server", server)
		return
	}
	n.log.Warn("cluster: lost NATS; fleet-wide answers are partial until it is back", "err", err)
}

func (n *Node) subject(parts ...string) string {
	return n.cfg.Prefix + "." + strings.Join(parts, ".")
}

// Start gives the node its daemon and history and joins the fleet:
// heartbeats, requests from other nodes, events and relay messages.
func (n *Node) Start(local Local, hist LocalHistory) error {
	if n.local != nil {
		return errors.New("cluster: Start called twice")
	}
	if local == nil || hist == nil {
		return errors.New("cluster: Start needs the local daemon and history")
	}
	n.local, n.hist = local, hist
	subs := []struct {
		subject string
		fn      nats.MsgHandler
	}{
		{n.subject("hb"), n.onHeartbeat},
		{n.subject("leave"), n.onLeave},
		{n.subject("rpc", "all", "*"), n.onRequest},
		{n.subject("rpc", "node", n.cfg.Name, "*"), n.onRequest},
		{n.subject("relay", "*"), n.onRelay},
	}
	for _, s := range subs {
		sub, err := n.nc.Subscribe(s.subject, s.fn)
		if err != nil {
			n.unsubscribe()
			return fmt.Errorf("cluster: subscribe %s: %w", s.subject, err)
		}
		if err := sub.SetPendingLimits(65536, 64<<20); err != nil {
			n.unsubscribe()
			return fmt.Errorf("cluster: subscribe %s: %w", s.subject, err)
		}
		n.subsMu.Lock()
		n.subs = append(n.subs, sub)
		n.subsMu.Unlock()
	}
	n.wg.Add(3)
	go func() { defer n.wg.Done(); n.heartbeats() }()
	go func() { defer n.wg.Done(); n.publishEvents() }()
	go func() { defer n.wg.Done(); n.rates.Run(n.life, local.Stats, time.Now) }()
	return nil
}

func (n *Node) unsubscribe() {
	n.subsMu.Lock()
	defer n.subsMu.Unlock()
	for _, s := range n.subs {
		if err := s.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			n.log.Debug("cluster: unsubscribe", "subject", s.Subject, "err", err)
		}
	}
	n.subs = nil
}

// Stop leaves the fleet: it tells the other nodes, stops serving their
// requests, flushes what it published and closes the NATS connection.
func (n *Node) Stop() {
	n.stop()
	n.unsubscribe()
	n.wg.Wait()
	if n.nc.IsConnected() {
		if err := n.nc.Publish(n.subject("leave"), []byte(n.cfg.Name)); err == nil {
			if err := n.nc.FlushTimeout(time.Second); err != nil {
				n.log.Debug("cluster: flush on stop", "err", err)
			}
		}
	}
	n.nc.Close()
	n.metrics.unregister()
}
