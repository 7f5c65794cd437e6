//go:build !linux

package loadgen

import (
	"errors"
	"time"
)

// haveProc tells whether procCPU and procRSS can read another process:
// not without Linux's /proc (Config.Validate refuses a PID).
const haveProc = false

var errNoProc = errors.New("server readings need Linux's /proc")

func procCPU(int) (time.Duration, error) { return 0, errNoProc }

func procRSS(int) (int64, error) { return 0, errNoProc }
