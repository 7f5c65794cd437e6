// Package tcptest gives tests both ends of real loopback TCP connections,
// for code that needs a kernel socket (deadlines, full send buffers,
// syscall.RawConn) rather than net.Pipe.
package tcptest

import (
	"net"
	"testing"
)

// Listen returns a loopback listener, closed when the test ends.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// Pair dials ln and returns the dialed end (client) and the accepted one
// (server), both closed when the test ends.
func Pair(t testing.TB, ln net.Listener) (client, server net.Conn) {
	t.Helper()
	acc := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			acc <- nil
			return
		}
		acc <- c
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-acc
	if server == nil {
		client.Close()
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}
