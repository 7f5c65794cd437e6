package main

import (
	"syscall"
	"unsafe"
)

// fdIsTerminal reports whether fd is a terminal: TCGETS succeeds only on one.
func fdIsTerminal(fd uintptr) bool {
	var t syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TCGETS, uintptr(unsafe.Pointer(&t)))
	return errno == 0
}
