//go:build linux

package store

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestDiskFullTmpfs runs the disk-full scenario on a real 1 MiB tmpfs whose
// space a filler file takes, so SQLite meets ENOSPC from the kernel in the
// WAL, the database file and the -shm. It needs permission to mount
// (root in CI); elsewhere it skips and TestDiskFullMaxPageCount stands in.
func TestDiskFullTmpfs(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size=1m,mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v); TestDiskFullMaxPageCount covers SQLITE_FULL", err)
	}
	// Registered before the store, so it runs after the store is closed.
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	s := testStore(t, func(c *Config) {
		c.Path = filepath.Join(dir, "history.db")
		c.QueueSize = 64
		c.BatchSize = 16
	})
	filler := filepath.Join(dir, "filler")
	diskFullScenario(t, s,
		func() {
			f, err := os.Create(filler)
			if err != nil {
				t.Fatal(err)
			}
			chunk := make([]byte, 4096)
			for {
				if _, err := f.Write(chunk); err != nil {
					if !errors.Is(err, syscall.ENOSPC) {
						t.Fatalf("fill: %v", err)
					}
					break
				}
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
		},
		func() {
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
		},
	)
}
