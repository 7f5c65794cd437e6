package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestDeps enforces the dependency arrows (ARCHITECTURE.md): wsctl is a
// client of the admin API and links none of the server, and so no cgo.
func TestDeps(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	forbidden := []string{
		"github.com/mattn/go-sqlite3",
		"github.com/wsd-dev/wsd/store",
		"github.com/wsd-dev/wsd/daemon",
		"github.com/wsd-dev/wsd/admin",
		"github.com/wsd-dev/wsd/admin/token",
		"github.com/wsd-dev/wsd/tracing",
		"github.com/wsd-dev/wsd/migrations",
		"github.com/golang-jwt/jwt/v5",
		"github.com/go-chi/chi/v5",
		"runtime/cgo",
	}
	deps := strings.Fields(string(out))
	for _, d := range deps {
		for _, f := range forbidden {
			if d == f {
				t.Errorf("wsctl links %s", d)
			}
		}
	}
	if len(deps) < 10 {
		t.Fatalf("suspiciously few dependencies: %v", deps)
	}
	build := exec.Command("go", "build", "-o", os.DevNull, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, out)
	}
}
