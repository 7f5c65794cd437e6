// Package faults is wsd's fault tier: tests that build the real wsd binary
// and put it through what an attacker or an unlucky operator would (issue
// 19): kill -9 in a loop, a full disk, a hung OTLP collector, slowloris,
// one address flooding another out, a slow consumer, an inbound flood,
// and a reconnect storm. Each test prints its figures (go test -v).
//
// The tier runs only when WSD_FAULTS=1 (CI: a step of .ci/run), so that
// go test ./... stays fast; the reconnect storm also needs WSD_STORM=1:
//
//	WSD_FAULTS=1 go test -count=1 -v ./faults/
//	WSD_FAULTS=1 WSD_STORM=1 go test -count=1 -v -run Storm -timeout 20m ./faults/
package faults
