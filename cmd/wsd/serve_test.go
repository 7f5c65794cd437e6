package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPortInUseCreatesNothing: a start that fails on a port in use leaves
// no state directory and no key behind (issue 19 #8).
func TestPortInUseCreatesNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, flag := range []string{"--listen", "--admin-listen"} {
		t.Run(flag, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			args := []string{"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--state-dir", dir, flag, ln.Addr().String()}
			var stderr bytes.Buffer
			code := run(context.Background(), args, func(string) string { return "" }, &bytes.Buffer{}, &stderr)
			if code == exitOK || !strings.Contains(stderr.String(), flag) {
				t.Fatalf("exit %d, stderr %q: want a failure naming %s", code, stderr.String(), flag)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Fatalf("state directory after the failed start: %v", err)
			}
		})
	}
}
