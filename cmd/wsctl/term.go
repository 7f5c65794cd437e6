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
	return fdIsTerminal(f.Fd())
}
