package cluster

import (
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wsd-dev/wsd/admin/apitype"
)

// heartbeat is what a node announces every HeartbeatInterval.
type heartbeat struct {
	Name        string    `json:"name"`
	Address     string    `json:"address,omitempty"`
	Version     string    `json:"version"`
	StartedAt   time.Time `json:"started_at"`
	Connections int       `json:"connections"`
	Health      string    `json:"health"`
	Tag         uint16    `json:"tag"`
}

type peer struct {
	hb   heartbeat
	seen time.Time // when its last heartbeat arrived (our clock)
}

// presence is the set of other nodes alive, by their heartbeats.
type presence struct {
	self  string
	mu    sync.Mutex
	peers map[string]peer
}

func newPresence(self string) *presence {
	return &presence{self: self, peers: map[string]peer{}}
}

func (p *presence) beat(hb heartbeat, now time.Time) (joined bool) {
	if hb.Name == p.self || hb.Name == "" {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_, known := p.peers[hb.Name]
	p.peers[hb.Name] = peer{hb: hb, seen: now}
	return !known
}

func (p *presence) leave(name string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, known := p.peers[name]
	delete(p.peers, name)
	return known
}

// expire removes the peers not heard of since ttl and returns their names.
func (p *presence) expire(now time.Time, ttl time.Duration) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var gone []string
	for name, pr := range p.peers {
		if now.Sub(pr.seen) > ttl {
			delete(p.peers, name)
			gone = append(gone, name)
		}
	}
	return gone
}

// reconnected gives every peer a fresh TTL: while the bus was down no
// heartbeat could arrive, so their silence says nothing.
func (p *presence) reconnected(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for name, pr := range p.peers {
		pr.seen = now
		p.peers[name] = pr
	}
}

// names returns the peers' names, sorted.
func (p *presence) names() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.peers))
	for name := range p.peers {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// withTag returns the peers whose connection ids carry tag.
func (p *presence) withTag(tag uint16) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for name, pr := range p.peers {
		if pr.hb.Tag == tag {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func (p *presence) list() []peer {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]peer, 0, len(p.peers))
	for _, pr := range p.peers {
		out = append(out, pr)
	}
	return out
}

func (p *presence) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.peers)
}

// self describes this node now.
func (n *Node) self() heartbeat {
	st := n.local.Stats()
	health := apitype.NodeHealth(st.Draining, n.hist.Health().Degraded, n.local.Cordoned())
	return heartbeat{
		Name: n.cfg.Name, Address: n.cfg.Address, Version: n.cfg.Version, StartedAt: st.StartedAt,
		Connections: st.Connections, Health: health, Tag: n.tag,
	}
}

// heartbeats announces the node and expires silent peers until Stop.
func (n *Node) heartbeats() {
	t := time.NewTicker(n.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		if n.nc.IsConnected() {
			b, err := json.Marshal(n.self())
			if err == nil {
				err = n.nc.Publish(n.subject("hb"), b)
			}
			if err != nil {
				n.log.Debug("cluster: heartbeat", "err", err)
			}
			// Only a node that hears the bus may conclude that a peer
			// is silent.
			for _, name := range n.peers.expire(time.Now(), n.cfg.NodeTTL) {
				n.log.Warn("cluster: node left (no heartbeat)", "peer", name, "ttl", n.cfg.NodeTTL)
			}
		}
		n.metrics.nodes.Set(float64(n.peers.count() + 1))
		select {
		case <-n.life.Done():
			return
		case <-t.C:
		}
	}
}

func (n *Node) onHeartbeat(m *nats.Msg) {
	var hb heartbeat
	if err := json.Unmarshal(m.Data, &hb); err != nil {
		n.log.Debug("cluster: bad heartbeat", "err", err)
		return
	}
	if n.peers.beat(hb, time.Now()) {
		n.log.Info("cluster: node joined", "peer", hb.Name, "address", hb.Address)
		n.metrics.nodes.Set(float64(n.peers.count() + 1))
	}
}

func (n *Node) onLeave(m *nats.Msg) {
	name := string(m.Data)
	if name != n.cfg.Name && n.peers.leave(name) {
		n.log.Info("cluster: node left", "peer", name)
		n.metrics.nodes.Set(float64(n.peers.count() + 1))
	}
}

// Nodes lists the fleet by name: this node and every peer alive. While
// the bus is down the answer is partial: the peers last heard of are
// listed as missing.
func (n *Node) Nodes() ([]apitype.Node, apitype.Fleet) {
	now := time.Now()
	me := n.self()
	health := me.Health
	if !n.nc.IsConnected() {
		health = apitype.HealthDisconnected
	}
	out := []apitype.Node{{
		Name: me.Name, Address: me.Address, Version: me.Version, StartedAt: me.StartedAt.UTC(),
		UptimeSeconds: now.Sub(me.StartedAt).Seconds(), Connections: me.Connections, Health: health,
		LastHeartbeat: now.UTC(), Self: true,
	}}
	var fleet apitype.Fleet
	if !n.nc.IsConnected() {
		fleet = apitype.Fleet{Partial: true, MissingNodes: n.peers.names()}
		return out, fleet
	}
	for _, pr := range n.peers.list() {
		out = append(out, apitype.Node{
			Name: pr.hb.Name, Address: pr.hb.Address, Version: pr.hb.Version, StartedAt: pr.hb.StartedAt.UTC(),
			UptimeSeconds: now.Sub(pr.hb.StartedAt).Seconds(), Connections: pr.hb.Connections, Health: pr.hb.Health,
			LastHeartbeat: pr.seen.UTC(),
		})
	}
	slices.SortFunc(out, func(a, b apitype.Node) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out, fleet
}
