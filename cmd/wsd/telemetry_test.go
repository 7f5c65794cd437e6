package main

import (
	"strings"
	"testing"

	"github.com/wsd-dev/wsd/tracing"
	"github.com/wsd-dev/wsd/tracing/setup"
)

func TestTelemetryConfig(t *testing.T) {
	c, err := loadConfig([]string{"--trace-frames", "all"}, env(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.daemon.TraceFrames != tracing.FramesAll || !c.tracing.Enabled || c.tracing.Protocol != setup.ProtocolGRPC {
		t.Errorf("config: frames %v, tracing %+v", c.daemon.TraceFrames, c.tracing)
	}
	c, err = loadConfig(nil, env(map[string]string{"WSD_TRACE_FRAMES": "none"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.daemon.TraceFrames != tracing.FramesNone || c.tracing.Enabled {
		t.Errorf("env: frames %v, tracing on %v", c.daemon.TraceFrames, c.tracing.Enabled)
	}
	if c, _ = loadConfig(nil, env(nil)); c.daemon.TraceFrames != tracing.FramesControl {
		t.Errorf("default frames %v", c.daemon.TraceFrames)
	}
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--trace-frames", "some"}, nil, "trace-frames"},
		{nil, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "OTEL_EXPORTER_OTLP_PROTOCOL"},
	} {
		if _, err := loadConfig(tc.args, env(tc.env)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: error %v, want one naming %s", tc.args, tc.env, err, tc.want)
		}
	}
}
