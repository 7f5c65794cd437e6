package wsdtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Main is a TestMain body for end-to-end tests of the wsd binary: it
// builds cmd/wsd into a temporary directory (with the race detector when
// race is true), sets *bin to its path, runs the tests and removes the
// directory. It returns the exit code for os.Exit.
func Main(m *testing.M, race bool, bin *string) int {
	dir, err := os.MkdirTemp("", "wsd-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	*bin = filepath.Join(dir, "wsd")
	args := []string{"build", "-o", *bin}
	if race {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "github.com/wsd-dev/wsd/cmd/wsd")...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building wsd:", err)
		return 1
	}
	return m.Run()
}
