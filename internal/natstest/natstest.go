// Package natstest runs a real NATS server (github.com/nats-io/nats-server/v2)
// embedded in a test process, on loopback, for the tests of a fleet.
package natstest

import (
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Start runs a NATS server on 127.0.0.1:port (0: a free port) and shuts it
// down when the test ends; a test may shut it down earlier (and start
// another on the same port to play a restart).
func Start(t testing.TB, port int) *server.Server {
	t.Helper()
	if port == 0 {
		port = -1 // nats-server's "any free port"
	}
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatalf("nats-server on port %s: %v", strconv.Itoa(port), err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready within 10s")
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns
}
