package daemon

import (
	"hash/maphash"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ipKey identifies a client for per-IP limits.
type ipKey = netip.Addr

// ipTable holds, per client IP, the connections it has open or in handshake
// and its handshake token bucket. Entries are created on demand and swept
// once they are back to rest, so the table is bounded by the active IPs.
type ipTable struct {
	seed   maphash.Seed
	shards [32]ipShard
}

type ipShard struct {
	mu sync.Mutex
	m  map[ipKey]*ipEntry
}

type ipEntry struct {
	conns  int32
	tokens float64
	last   int64 // unix nanoseconds of the last refill
}

func newIPTable() *ipTable {
	t := &ipTable{seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i].m = make(map[ipKey]*ipEntry)
	}
	return t
}

func (t *ipTable) shard(ip ipKey) *ipShard {
	b := ip.As16()
	return &t.shards[maphash.Bytes(t.seed, b[:])%uint64(len(t.shards))]
}

// acquire takes a connection slot for ip unless it already has max (max ≤
// 0: unlimited, still counted).
func (t *ipTable) acquire(ip ipKey, max int) bool {
	s := t.shard(ip)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[ip]
	if e == nil {
		e = &ipEntry{tokens: -1}
		s.m[ip] = e
	}
	if max > 0 && int(e.conns) >= max {
		return false
	}
	e.conns++
	return true
}

// release gives back a slot taken by acquire.
func (t *ipTable) release(ip ipKey) {
	s := t.shard(ip)
	s.mu.Lock()
	if e := s.m[ip]; e != nil && e.conns > 0 {
		e.conns--
	}
	s.mu.Unlock()
}

// allow takes one handshake token from ip's bucket (rate per second, burst
// tokens at most); rate ≤ 0 allows everything. It returns how long until a
// token is available when it refuses.
func (t *ipTable) allow(ip ipKey, rate float64, burst int, now time.Time) (bool, time.Duration) {
	if rate <= 0 {
		return true, 0
	}
	s := t.shard(ip)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[ip]
	if e == nil {
		e = &ipEntry{tokens: -1}
		s.m[ip] = e
	}
	n := now.UnixNano()
	if e.tokens < 0 {
		e.tokens = float64(burst) // new bucket: full
	} else {
		e.tokens += rate * float64(n-e.last) / 1e9
	}
	e.tokens = min(e.tokens, float64(burst))
	e.last = n
	if e.tokens < 1 {
		return false, time.Duration((1 - e.tokens) / rate * 1e9)
	}
	e.tokens--
	return true, 0
}

// sweep removes entries with no connection whose bucket has refilled.
func (t *ipTable) sweep(rate float64, burst int, now time.Time) {
	n := now.UnixNano()
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for ip, e := range s.m {
			if e.conns > 0 {
				continue
			}
			if e.tokens < 0 || rate <= 0 || e.tokens+rate*float64(n-e.last)/1e9 >= float64(burst) {
				delete(s.m, ip)
			}
		}
		s.mu.Unlock()
	}
}

// addrIP returns the IP of a network address (unmapped from IPv4-in-IPv6).
func addrIP(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// addrString returns a.String(), building an IPv4 TCP address (the common
// case) with one allocation instead of two.
func addrString(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok || ta == nil || ta.Zone != "" {
		return a.String()
	}
	ip4 := ta.IP.To4()
	if ip4 == nil {
		return a.String()
	}
	var buf [len("255.255.255.255:65535")]byte
	b := netip.AddrFrom4([4]byte(ip4)).AppendTo(buf[:0])
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(ta.Port), 10)
	return string(b)
}

// trusted reports whether ip is in one of the prefixes.
func trusted(prefixes []netip.Prefix, ip netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// forwardedFor returns the client IP that X-Forwarded-For reports, for a
// request that came from a trusted proxy: the rightmost address that is not
// itself a trusted proxy (every hop appends the address it saw, so only the
// part written by our own proxies can be believed). It returns false when
// the header is absent or unusable; the proxy's address is then the client's.
func forwardedFor(values []string, prefixes []netip.Prefix) (netip.Addr, bool) {
	var hops []string
	for _, v := range values {
		for h := range strings.SplitSeq(v, ",") {
			hops = append(hops, strings.TrimSpace(h))
		}
	}
	var last netip.Addr
	for i := len(hops) - 1; i >= 0; i-- {
		ip, err := parseHop(hops[i])
		if err != nil {
			break
		}
		last = ip
		if !trusted(prefixes, ip) {
			return ip, true
		}
	}
	return last, last.IsValid()
}

// parseHop parses one X-Forwarded-For entry: an IP, possibly with a port
// or in brackets.
func parseHop(h string) (netip.Addr, error) {
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip.Unmap(), nil
	}
	ap, err := netip.ParseAddrPort(h)
	if err != nil {
		return netip.Addr{}, err
	}
	return ap.Addr().Unmap(), nil
}
