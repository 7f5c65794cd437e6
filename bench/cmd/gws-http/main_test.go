package main

import (
	"testing"

	"github.com/wsd-dev/wsd/bench/internal/peer/peertest"
)

func TestEcho(t *testing.T) { peertest.Check(t, server()) }
