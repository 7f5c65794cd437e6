//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// checkPath refuses a database reached through a symbolic link or with
// several hard links: SQLite finds its -wal and -journal files by name, so
// another name for the same file can lose them (sqlite.org/howtocorrupt.html).
func checkPath(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check database path: %w", err)
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		return fmt.Errorf("database %s is a symbolic link; give the real path", path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
		return fmt.Errorf("database %s has %d hard links; it must have one", path, st.Nlink)
	}
	return nil
}

// lockPath takes an exclusive flock on path (created if needed) so that two
// daemons never share a database: the second one's crash recovery would
// close the first one's live sessions. The kernel drops the lock when the
// process dies, so kill -9 leaves nothing to clean up. A separate file is
// used because SQLite's own POSIX locks on the database are dropped when any
// descriptor of the file in the process is closed.
func lockPath(path string) (io.Closer, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return nil, errors.Join(fmt.Errorf("lock %s: %w", path, ErrLocked), f.Close())
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("lock %s: %w", path, err), f.Close())
	}
	return f, nil
}
