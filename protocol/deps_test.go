package protocol

import (
	"os/exec"
	"strings"
	"testing"
)

// TestStandardLibraryOnly enforces the package's first rule: protocol
// imports nothing outside the standard library (and nothing of ours).
func TestStandardLibraryOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if p != "github.com/wsd-dev/wsd/protocol" {
			t.Errorf("protocol depends on %s, which is not in the standard library", p)
		}
	}
}
