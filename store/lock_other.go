//go:build !(linux || darwin || dragonfly || freebsd || netbsd || openbsd)

package store

import "io"

// checkPath: no link checks on this platform.
func checkPath(string) error { return nil }

// lockPath: no inter-process guard on this platform; run one daemon per
// database.
func lockPath(string) (io.Closer, error) { return nopCloser{}, nil }

type nopCloser struct{}

func (nopCloser) Close() error { return nil }
