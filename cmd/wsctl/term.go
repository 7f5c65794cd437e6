package main

import "os"

// isTerminal reports whether v is an *os.File open on a terminal: a
// character device that answers the terminal ioctl (isatty). /dev/null and
// other character devices are not terminals, so wsctl run from systemd,
// cron, `ssh -n` or with `</dev/null` never prompts.
func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	if !ok || f == nil {
		return false
	}
	// Not f.Fd(): it would put the file in blocking mode.
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	var term bool
	if err := rc.Control(func(fd uintptr) { term = fdIsTerminal(fd) }); err != nil {
		return false
	}
	return term
}
