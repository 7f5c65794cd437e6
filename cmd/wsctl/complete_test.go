package main

import (
	"slices"
	"testing"

	"github.com/wsd-dev/wsd/session"
)

// TestClosedByValues: wsctl's copy of the --closed-by values is the
// server's list, in its order (wsctl may not link package session; its
// test may).
func TestClosedByValues(t *testing.T) {
	var want []string
	for _, c := range session.AllClosedBy() {
		want = append(want, string(c))
	}
	if !slices.Equal(closedByValues, want) {
		t.Errorf("closedByValues = %v, want session.AllClosedBy() = %v", closedByValues, want)
	}
}
