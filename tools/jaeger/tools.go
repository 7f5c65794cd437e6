//go:build tools

// Package jaeger pins the Jaeger version built for the tracing tests:
//
//	go build -o "$DIR/jaeger" github.com/jaegertracing/jaeger/cmd/jaeger
package jaeger

import _ "github.com/jaegertracing/jaeger/cmd/jaeger"
