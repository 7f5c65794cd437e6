//go:build unix

package protocol

import (
	"syscall"
	"time"
)

// processCPU returns the user plus system CPU time the process has used, so
// benchmarks can report a cost that does not depend on other load on the
// machine.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
