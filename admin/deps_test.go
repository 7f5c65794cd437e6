package admin

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps enforces admin's arrows (ARCHITECTURE.md): it reads history
// through its History interface in package session's types, so it links
// neither the store nor SQLite, and tracing's API but not the SDK or gRPC.
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	for _, d := range deps {
		for _, f := range []string{"github.com/wsd-dev/wsd/store", "github.com/mattn/go-sqlite3",
			"github.com/wsd-dev/wsd/tracing/setup", "go.opentelemetry.io/otel/sdk", "google.golang.org/grpc"} {
			if d == f || strings.HasPrefix(d, f+"/") {
				t.Errorf("admin links %s", d)
			}
		}
	}
	if len(deps) < 10 {
		t.Fatalf("suspiciously few dependencies: %v", deps)
	}
}
