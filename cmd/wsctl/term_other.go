//go:build !linux && !darwin && !freebsd && !netbsd && !openbsd && !dragonfly && !windows

package main

// fdIsTerminal reports false: wsctl knows no terminal check on this
// system, so it never prompts and draws no progress line.
func fdIsTerminal(uintptr) bool { return false }
