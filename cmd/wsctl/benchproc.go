package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A bench measures over one phase: after the connections are open and
// before they close (echo, broadcast), the whole hold (idle) or the whole
// run (churn). With --pid it reads the server's CPU time and RSS from /proc
// at both ends, so that the server's cost per operation excludes setup.

type phase struct {
	t0         time.Time
	cpu0, srv0 time.Duration
	rss0       int64
	elapsed    time.Duration
	cpu, srv   time.Duration
	rss1       int64
	done       bool
}

func (b *bench) begin() {
	p := &b.phase
	if b.o.pid > 0 {
		p.srv0, _ = procCPU(b.o.pid)
		p.rss0, _ = procRSS(b.o.pid)
	}
	p.t0, p.cpu0 = time.Now(), cpuTime()
}

// end closes the phase; the first call counts.
func (b *bench) end() {
	p := &b.phase
	if p.done || p.t0.IsZero() {
		return
	}
	p.done = true
	p.elapsed, p.cpu = time.Since(p.t0), cpuTime()-p.cpu0
	if b.o.pid > 0 {
		srv, err := procCPU(b.o.pid)
		if err != nil {
			b.fail(err)
			return
		}
		p.srv = srv - p.srv0
		p.rss1, _ = procRSS(b.o.pid)
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU returns the user+system CPU time of process pid from
// /proc/PID/stat (fields 14 and 15, in clock ticks of 1/100 s).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("server cpu: %w", err)
	}
	// The command name (field 2) may hold spaces; fields follow its ')'.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("server cpu: short /proc/%d/stat", pid)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("server cpu: bad /proc/%d/stat", pid)
	}
	return time.Duration(u+s) * 10 * time.Millisecond, nil
}

// procRSS returns VmRSS of process pid in bytes, from /proc/PID/status.
func procRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("server rss: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				break
			}
			kib, err := strconv.ParseInt(f[0], 10, 64)
			return kib << 10, err
		}
	}
	return 0, fmt.Errorf("server rss: no VmRSS in /proc/%d/status", pid)
}
