package main

import (
	"net"
	"syscall"
	"testing"
)

// WebSocket connections have no TCP keepalive (the daemon's pings do that
// job); the admin API's keep Go's default.
func TestListenersKeepalive(t *testing.T) {
	t.Setenv("LISTEN_PID", "") // no socket activation
	ws, admin, err := listeners(config{listen: "127.0.0.1:0", adminListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	defer ws[0].Close()
	for _, tc := range []struct {
		name string
		ln   net.Listener
		want int
	}{{"websocket", ws[0], 0}, {"admin", admin, 1}} {
		client, err := net.Dial("tcp", tc.ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		nc, err := tc.ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		rc, err := nc.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var v int
		var serr error
		if err := rc.Control(func(fd uintptr) {
			v, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
		}); err != nil || serr != nil {
			t.Fatal(err, serr)
		}
		if v != tc.want {
			t.Errorf("%s: SO_KEEPALIVE = %d, want %d", tc.name, v, tc.want)
		}
	}
}
