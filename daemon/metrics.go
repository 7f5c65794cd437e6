package daemon

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/wsd-dev/wsd/session"
)

// Prometheus metrics (Deps.Metrics). Most are computed when scraped, from
// counters the daemon keeps anyway (stats, per-connection atomics): the
// message path pays nothing for them. What must be observed as it happens
// (handshake and webhook latency, ping round trips, closes by code, send
// queue drops) costs an atomic add or a histogram observation on paths
// that already do I/O.
//
// Label values are bounded: routes are the configured ones, reasons and
// closed_by values are constants of this package, and close codes are the
// registered ones (1000-1015 and wsd's own 4401, 4408), else their class
// (3xxx, 4xxx, other). No connection id, user or address is ever a label.
// Every known label combination is reported from the start, at zero, so
// that rate() counts the first event (189 wsd_closes_total series at most).

// metrics is nil when Deps.Metrics is nil; its methods are nil-safe.
type metrics struct {
	d *Daemon

	handshakeSeconds prometheus.Histogram
	rttSeconds       prometheus.Histogram
	webhookSeconds   *prometheus.HistogramVec
	webhookErrors    *prometheus.CounterVec

	closes [len(closedByLabels)][len(codeLabels)]atomic.Uint64
	drops  [len(dropLabels)]atomic.Uint64

	// foldMu makes the message and byte totals monotonic: a finished
	// connection's counters move into the closed* totals (and it is
	// marked folded) atomically with respect to a scrape, which adds the
	// live, unfolded connections to those totals.
	foldMu                                    sync.Mutex
	closedMsgsIn, closedMsgsOut               uint64
	closedBytesIn, closedBytesOut             uint64
	descConns, descHandshaking, descDraining  *prometheus.Desc
	descHandshakes, descHandshakeFailures     *prometheus.Desc
	descMessages, descBytes, descQueueBytes   *prometheus.Desc
	descCloses, descDrops, descSlow           *prometheus.Desc
	descInboundLimited                        *prometheus.Desc
	descPanics, descHookDropped, descWatchers *prometheus.Desc
}

// closedByLabels are the closed_by label values; the last catches
// anything else.
var closedByLabels = [...]session.ClosedBy{
	session.ClosedByClient, session.ClosedByServer, session.ClosedByAdmin, session.ClosedByIdleTimeout, session.ClosedBySlowConsumer,
	session.ClosedByProtocolError, session.ClosedByShutdown, session.ClosedByTokenExpired, session.ClosedByPolicy, "other",
}

// codeLabels are the close code label values: the codes registered for
// RFC 6455 (IANA, 1000-1015), wsd's own, then classes.
var codeLabels = [...]string{
	"1000", "1001", "1002", "1003", "1004", "1005", "1006", "1007",
	"1008", "1009", "1010", "1011", "1012", "1013", "1014", "1015",
	"4401", "4408", "3xxx", "4xxx", "other",
}

func codeIndex(code int) int {
	switch {
	case code >= 1000 && code <= 1015:
		return code - 1000
	case code == CodeTokenExpired:
		return 16
	case code == CodePongTimeout:
		return 17
	case code >= 3000 && code <= 3999:
		return 18
	case code >= 4000 && code <= 4999:
		return 19
	}
	return 20
}

func closedByIndex(by session.ClosedBy) int {
	for i, l := range closedByLabels[:len(closedByLabels)-1] {
		if by == l {
			return i
		}
	}
	return len(closedByLabels) - 1
}

// Send queue drop reasons.
const (
	dropClosing   = iota // sent to a connection that is closing
	dropSlow             // over send-queue-bytes: the message is dropped and the client closed
	dropDiscarded        // queued, then discarded because the connection closed
)

var dropLabels = [...]string{dropClosing: "closing", dropSlow: "slow_consumer", dropDiscarded: "discarded_at_close"}

func newMetrics(d *Daemon, reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{d: d}
	m.handshakeSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "wsd_handshake_duration_seconds",
		Help:    "Time from accepting a TCP connection to its completed WebSocket upgrade.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14), // 0.5 ms to 4 s
	})
	m.rttSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "wsd_ping_rtt_seconds",
		Help:    "Round-trip time of keepalive pings (ping sent to pong received).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 15), // 0.5 ms to 8 s
	})
	m.webhookSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "wsd_webhook_duration_seconds",
		Help:    "Time until a webhook's response headers arrive (or the request fails), by event (connect, message, close).",
		Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 11), // 1 ms to 9.5 s
	}, []string{"event"})
	m.webhookErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wsd_webhook_errors_total",
		Help: "Failed webhook requests, by event and reason (timeout, connection, canceled, status_4xx, status_5xx, status_other, bad_answer).",
	}, []string{"event", "reason"})
	// Every series exists from the start (at zero), so that rates and
	// dashboards work before the first webhook call or failure.
	for _, ev := range []string{hookConnect, hookMessage, hookClose} {
		m.webhookSeconds.WithLabelValues(ev)
		for _, reason := range webhookReasons {
			m.webhookErrors.WithLabelValues(ev, reason)
		}
	}
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	m.descConns = desc("wsd_connections", "Live WebSocket connections, by route.", "route")
	m.descHandshaking = desc("wsd_handshakes_in_progress", "Connections admitted whose handshake is not done yet.")
	m.descDraining = desc("wsd_draining", "1 while the daemon drains (no new connections), else 0.")
	m.descHandshakes = desc("wsd_handshakes_total", "Completed WebSocket upgrades.")
	m.descHandshakeFailures = desc("wsd_handshake_failures_total", "Refused or failed handshakes, by reason.", "reason")
	m.descMessages = desc("wsd_messages_total", "WebSocket messages, by direction (in: from clients, out: to clients).", "direction")
	m.descBytes = desc("wsd_message_bytes_total", "Payload bytes of WebSocket messages, by direction.", "direction")
	m.descQueueBytes = desc("wsd_send_queue_bytes", "Bytes waiting in send queues, over all connections.")
	m.descCloses = desc("wsd_closes_total", "Ended sessions, by close code (registered codes, else class) and by who closed them.", "code", "closed_by")
	m.descDrops = desc("wsd_send_queue_drops_total", "Messages not delivered from send queues, by reason.", "reason")
	m.descSlow = desc("wsd_slow_consumer_closes_total", "Connections closed as slow consumers (queue over send-queue-bytes, or a write timed out).")
	m.descInboundLimited = desc("wsd_inbound_limit_closes_total", "Connections closed (1008, closed_by policy) for sending over --max-messages-per-second or --max-bytes-per-second, by limit (messages, bytes).", "limit")
	m.descPanics = desc("wsd_handler_panics_total", "Panics contained to one connection (handler or webhook).")
	m.descHookDropped = desc("wsd_webhook_close_events_dropped_total", "Webhook close events dropped because their queue was full.")
	m.descWatchers = desc("wsd_event_watchers", "Subscribers to connection events (admin /v1/events streams).")
	for _, c := range []prometheus.Collector{m.handshakeSeconds, m.rttSeconds, m.webhookSeconds, m.webhookErrors, m} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Describe implements prometheus.Collector for the metrics computed at
// scrape time.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.descConns, m.descHandshaking, m.descDraining, m.descHandshakes,
		m.descHandshakeFailures, m.descMessages, m.descBytes, m.descQueueBytes, m.descCloses, m.descDrops,
		m.descSlow, m.descInboundLimited, m.descPanics, m.descHookDropped, m.descWatchers} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	d := m.d
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	counter := func(desc *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), labels...)
	}

	byRoute := map[string]int{}
	for _, r := range d.config().Routes {
		byRoute[r.Path] = 0 // configured routes show 0 rather than nothing
	}
	var queued int64
	m.foldMu.Lock()
	in, out, bin, bout := m.closedMsgsIn, m.closedMsgsOut, m.closedBytesIn, m.closedBytesOut
	live := 0
	d.hub.each(nil, func(c *conn) bool {
		live++
		byRoute[c.route.Path]++
		qb, _ := c.snd.Queued()
		queued += int64(qb)
		if !c.folded {
			msgsOut, bytesOut := c.snd.Out()
			in += c.msgsIn.Load()
			out += msgsOut
			bin += c.bytesIn.Load()
			bout += bytesOut
		}
		return true
	})
	m.foldMu.Unlock()
	for route, n := range byRoute {
		gauge(m.descConns, float64(n), route)
	}
	gauge(m.descHandshaking, float64(max(int(d.admitted.Load())-live, 0)))
	draining := 0.0
	if d.draining.Load() {
		draining = 1
	}
	gauge(m.descDraining, draining)
	gauge(m.descQueueBytes, float64(queued))
	gauge(m.descWatchers, float64(d.events.n.Load()))
	counter(m.descMessages, in, "in")
	counter(m.descMessages, out, "out")
	counter(m.descBytes, bin, "in")
	counter(m.descBytes, bout, "out")
	counter(m.descHandshakes, d.stats.accepted.Load())
	failures := d.stats.handshake.snapshot()
	for _, reason := range handshakeReasons {
		if _, ok := failures[reason]; !ok {
			failures[reason] = 0 // every known reason is there from the start
		}
	}
	for reason, n := range failures {
		counter(m.descHandshakeFailures, n, reason)
	}
	for i := range m.closes {
		for j := range m.closes[i] {
			counter(m.descCloses, m.closes[i][j].Load(), codeLabels[j], string(closedByLabels[i]))
		}
	}
	for i, l := range dropLabels {
		counter(m.descDrops, m.drops[i].Load(), l)
	}
	counter(m.descSlow, d.stats.slowConsumers.Load())
	counter(m.descInboundLimited, d.stats.limitedMsgs.Load(), "messages")
	counter(m.descInboundLimited, d.stats.limitedBytes.Load(), "bytes")
	counter(m.descPanics, d.stats.panics.Load())
	counter(m.descHookDropped, d.hooks.dropped.Load())
}

// closed counts a finished session and folds its message counters into
// the totals. It runs in conn.finish, before the connection leaves the hub.
func (m *metrics) closed(c *conn, cause closeCause) {
	if m == nil {
		return
	}
	m.closes[closedByIndex(cause.by)][codeIndex(cause.code)].Add(1)
	msgsOut, bytesOut := c.snd.Out()
	m.foldMu.Lock()
	m.closedMsgsIn += c.msgsIn.Load()
	m.closedMsgsOut += msgsOut
	m.closedBytesIn += c.bytesIn.Load()
	m.closedBytesOut += bytesOut
	c.folded = true
	m.foldMu.Unlock()
}

// dropped counts n messages lost from send queues for a reason.
func (m *metrics) dropped(reason, n int) {
	if m == nil || n <= 0 {
		return
	}
	m.drops[reason].Add(uint64(n))
}

func (m *metrics) handshake(d time.Duration) {
	if m != nil {
		m.handshakeSeconds.Observe(d.Seconds())
	}
}

func (m *metrics) rtt(d time.Duration) {
	if m != nil {
		m.rttSeconds.Observe(d.Seconds())
	}
}

// webhook records one webhook request: its latency, and its failure when
// reason is not "".
func (m *metrics) webhook(event string, d time.Duration, reason string) {
	if m == nil {
		return
	}
	m.webhookSeconds.WithLabelValues(event).Observe(d.Seconds())
	if reason != "" {
		m.webhookErrors.WithLabelValues(event, reason).Inc()
	}
}

// webhookError records a failure found after the response arrived.
func (m *metrics) webhookError(event, reason string) {
	if m != nil {
		m.webhookErrors.WithLabelValues(event, reason).Inc()
	}
}

// handshakeReasons are the reasons the daemon refuses or fails handshakes
// with (rejection.metric, handshakeFailed), reported at zero before they
// first happen; a reason missing here still shows once counted.
var handshakeReasons = [...]string{
	"bad_request", "cordoned", "draining", "head_too_large", "io", "max_connections", "max_connections_per_ip",
	"missing_label", "no_route", "protocol", "rate_limited", "timeout", "unauthorized", "webhook", "webhook_refused",
}

// webhookReasons are the reason label values of wsd_webhook_errors_total.
var webhookReasons = [...]string{"timeout", "connection", "canceled", "status_4xx", "status_5xx", "status_other", "bad_answer"}

// statusReason classifies a webhook answer that is not a success.
func statusReason(status int) string {
	switch {
	case status >= 500 && status <= 599:
		return "status_5xx"
	case status >= 400 && status <= 499:
		return "status_4xx"
	}
	return "status_other"
}
