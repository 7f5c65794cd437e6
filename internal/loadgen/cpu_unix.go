//go:build unix

package loadgen

import (
	"syscall"
	"time"
)

// cpuTime returns this process's user+system CPU time, or 0 if the system
// does not tell.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
