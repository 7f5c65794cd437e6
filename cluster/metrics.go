package cluster

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	reg          prometheus.Registerer
	nodes        prometheus.Gauge
	connected    prometheus.GaugeFunc
	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	relayDropped prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, n *Node) (*metrics, error) {
	m := &metrics{
		reg: reg,
		nodes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wsd_cluster_nodes", Help: "Nodes of the fleet alive, as this node sees them (itself included).",
		}),
		connected: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "wsd_cluster_connected", Help: "1 while this node is connected to the fleet's NATS, else 0.",
		}, func() float64 {
			if n.nc != nil && n.nc.IsConnected() {
				return 1
			}
			return 0
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wsd_cluster_requests_total", Help: "Fleet-wide requests made by this node, by operation and result (ok or partial).",
		}, []string{"op", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "wsd_cluster_request_seconds", Help: "Latency of fleet-wide requests made by this node, by operation and result.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12),
		}, []string{"op", "result"}),
		relayDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wsd_cluster_relay_dropped_total", Help: "Relay messages not published to the other nodes (bus buffer full or closed).",
		}),
	}
	m.nodes.Set(1)
	if reg == nil {
		return m, nil
	}
	for _, c := range m.collectors() {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				continue
			}
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.nodes, m.connected, m.requests, m.latency, m.relayDropped}
}

func (m *metrics) observe(op, result string, d time.Duration) {
	m.requests.WithLabelValues(op, result).Inc()
	m.latency.WithLabelValues(op, result).Observe(d.Seconds())
}

func (m *metrics) unregister() {
	if m.reg == nil {
		return
	}
	for _, c := range m.collectors() {
		m.reg.Unregister(c)
	}
}
