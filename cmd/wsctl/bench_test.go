package main

import (
	"testing"

	"github.com/wsd-dev/wsd/protocol"
)

// Echo connections get a write buffer that holds a whole frame, so that a
// message costs the load generator one write system call; other scenarios
// and small messages keep the protocol's default.
func TestBenchWriteBuffer(t *testing.T) {
	for _, c := range []struct {
		scenario string
		size     int
		want     int
	}{
		{"echo", 1024, 0},
		{"echo", protocol.DefaultBufferSize - maxFrameHeader, 0},
		{"echo", 65536, 65536 + maxFrameHeader},
		{"echo", 64 << 20, maxBenchWriteBuffer},
		{"broadcast", 65536, 0},
		{"churn", 65536, 0},
	} {
		b := &bench{o: &benchOpts{scenario: c.scenario, size: c.size}}
		if got := b.dialOptions().WriteBufferSize; got != c.want {
			t.Errorf("%s --size %d: write buffer %d, want %d", c.scenario, c.size, got, c.want)
		}
	}
}
