//go:build !unix && !windows

package loadgen

import "time"

// cpuTime returns 0: this system does not tell a process's CPU time.
func cpuTime() time.Duration { return 0 }
