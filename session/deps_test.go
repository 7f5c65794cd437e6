package session

import (
	"os/exec"
	"strings"
	"testing"
)

// TestStandardLibraryOnly enforces the package's rule: session imports the
// standard library only, so that every package of wsd may import it.
func TestStandardLibraryOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if p != "github.com/wsd-dev/wsd/session" {
			t.Errorf("session depends on %s, which is not in the standard library", p)
		}
	}
}
