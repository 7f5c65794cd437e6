package session

import (
	"testing"
	"time"
)

func TestStatsAdd(t *testing.T) {
	early, late := time.Unix(100, 0), time.Unix(200, 0)
	var total Stats
	total.Add(Stats{StartedAt: late, Connections: 2, Accepted: 5, ClosedBy: map[ClosedBy]uint64{ClosedByClient: 1},
		HandshakeFailures: map[string]uint64{"timeout": 1}, ConnectionsByRoute: map[string]int{"/": 2}})
	total.Add(Stats{StartedAt: early, Connections: 3, Draining: true, ClosedBy: map[ClosedBy]uint64{ClosedByClient: 2, ClosedByAdmin: 1},
		ConnectionsByRoute: map[string]int{"/": 1, "/chat": 2}})
	total.Add(Stats{}) // a node that reported nothing
	if !total.StartedAt.Equal(early) || total.Connections != 5 || total.Accepted != 5 || !total.Draining ||
		total.ClosedBy[ClosedByClient] != 3 || total.ClosedBy[ClosedByAdmin] != 1 || total.HandshakeFailures["timeout"] != 1 ||
		total.ConnectionsByRoute["/"] != 3 || total.ConnectionsByRoute["/chat"] != 2 {
		t.Fatalf("total %+v", total)
	}
}
