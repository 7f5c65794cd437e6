package tracing

import (
	"os/exec"
	"strings"
	"testing"
)

// TestAPIOnly enforces the package's rule: tracing links the OpenTelemetry
// API only. The daemon imports it, and must link neither the SDK nor an
// exporter nor, through them, gRPC (those are tracing/setup's).
func TestAPIOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	for _, d := range deps {
		for _, f := range []string{"go.opentelemetry.io/otel/sdk", "go.opentelemetry.io/otel/exporters", "google.golang.org/grpc", "google.golang.org/protobuf"} {
			if d == f || strings.HasPrefix(d, f+"/") {
				t.Errorf("tracing links %s", d)
			}
		}
	}
	if len(deps) < 10 {
		t.Fatalf("suspiciously few dependencies: %v", deps)
	}
}
