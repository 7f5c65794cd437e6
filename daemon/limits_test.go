package daemon

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestForwardedFor(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	for _, tt := range []struct {
		values []string
		want   string
		ok     bool
	}{
		{nil, "", false},
		{[]string{"203.0.113.1"}, "203.0.113.1", true},
		{[]string{"198.51.100.7, 203.0.113.1"}, "203.0.113.1", true}, // rightmost untrusted
		{[]string{"203.0.113.1, 10.1.1.1"}, "203.0.113.1", true},     // skip our proxies
		{[]string{"203.0.113.1", "10.1.1.1"}, "203.0.113.1", true},   // several headers
		{[]string{"10.2.2.2, 10.1.1.1"}, "10.2.2.2", true},           // all trusted: leftmost seen
		{[]string{"garbage, 203.0.113.1"}, "203.0.113.1", true},
		{[]string{"203.0.113.1, garbage"}, "", false}, // cannot see past junk our proxy would not write
		{[]string{"203.0.113.1:4711"}, "203.0.113.1", true},
		{[]string{"[2001:db8::1]:80"}, "2001:db8::1", true},
		{[]string{"::ffff:203.0.113.9"}, "203.0.113.9", true},
	} {
		got, ok := forwardedFor(tt.values, proxies)
		if ok != tt.ok || (ok && got.String() != tt.want) {
			t.Errorf("forwardedFor(%q) = %v, %v; want %s, %v", tt.values, got, ok, tt.want, tt.ok)
		}
	}
}

func TestIPTable(t *testing.T) {
	tab := newIPTable()
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	for i, want := range []bool{true, true, false} {
		if got := tab.acquire(a, 2); got != want {
			t.Fatalf("acquire %d = %v with a limit of 2", i+1, got)
		}
	}
	if !tab.acquire(b, 2) {
		t.Fatal("another IP is limited")
	}
	tab.release(a)
	if !tab.acquire(a, 2) {
		t.Fatal("released slot not reusable")
	}
	now := time.Unix(1000, 0)
	for i := range 3 {
		if ok, _ := tab.allow(a, 1, 3, now); !ok {
			t.Fatalf("burst handshake %d refused", i)
		}
	}
	ok, wait := tab.allow(a, 1, 3, now)
	if ok || wait <= 0 || wait > time.Second {
		t.Fatalf("4th handshake: %v, wait %v", ok, wait)
	}
	if ok, _ := tab.allow(a, 1, 3, now.Add(time.Second)); !ok {
		t.Fatal("token not refilled after a second")
	}
	// Sweep keeps entries with connections, drops rested ones.
	tab.release(b)
	tab.sweep(1, 3, now.Add(time.Hour))
	if s := tab.shard(b); s.m[b] != nil {
		t.Fatal("rested entry not swept")
	}
	if s := tab.shard(a); s.m[a] == nil {
		t.Fatal("entry with connections swept")
	}
}

// TestAddrString checks addrString against net.Addr.String.
func TestAddrString(t *testing.T) {
	addrs := []net.Addr{
		&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 54321},            // 4in6 form
		&net.TCPAddr{IP: net.IP{10, 1, 2, 3}, Port: 0},                   // 4-byte form
		&net.TCPAddr{IP: net.IP{255, 255, 255, 255}, Port: 65535},        // longest
		&net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 443},          // IPv6
		&net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 80, Zone: "eth0"}, // zone
		&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.1"), Port: 8080},    // mapped
		&net.TCPAddr{Port: 1},                             // no IP
		&net.UnixAddr{Name: "/tmp/wsd.sock", Net: "unix"}, // not TCP
	}
	for _, a := range addrs {
		if got, want := addrString(a), a.String(); got != want {
			t.Errorf("addrString(%#v) = %q, want %q", a, got, want)
		}
	}
	a := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 40000}
	if n := testing.AllocsPerRun(10, func() { _ = addrString(a) }); n != 1 {
		t.Errorf("%v allocations, want 1", n)
	}
}
