package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

// RaiseNoFile lifts RLIMIT_NOFILE's soft limit to the hard limit and returns
// the resulting soft limit.
func RaiseNoFile() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return lim.Cur, err
		}
	}
	return lim.Cur, nil
}

// cpuSample is the process's own CPU time (user+system) at a wall-clock instant.
type cpuSample struct {
	cpu  time.Duration
	wall time.Time
}

func selfCPU() cpuSample {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return cpuSample{cpu: cpu, wall: time.Now()}
}

// cpuUse is the CPU used between two samples as a percentage of one core and
// of all the machine's cores.
type cpuUse struct {
	Seconds  float64
	OfCore   float64
	OfCores  float64
	NumCores int
}

func cpuBetween(a, b cpuSample) cpuUse {
	wall := b.wall.Sub(a.wall).Seconds()
	used := (b.cpu - a.cpu).Seconds()
	u := cpuUse{Seconds: used, NumCores: runtime.NumCPU()}
	if wall > 0 {
		u.OfCore = 100 * used / wall
		u.OfCores = u.OfCore / float64(u.NumCores)
	}
	return u
}

// procRSS reads VmRSS of pid from /proc, in bytes.
func procRSS(pid int) (uint64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Bytes()
		if !bytes.HasPrefix(line, []byte("VmRSS:")) {
			continue
		}
		fields := bytes.Fields(line[len("VmRSS:"):])
		if len(fields) == 0 {
			break
		}
		kb, err := strconv.ParseUint(string(fields[0]), 10, 64)
		if err != nil {
			return 0, err
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// clockTicks is USER_HZ, the unit of utime/stime in /proc/<pid>/stat; it is
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// procCPU reads the user+system CPU time of pid (all its threads) from
// /proc/<pid>/stat.
func procCPU(pid int) (cpuSample, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return cpuSample{}, err
	}
	// The command name (field 2) may contain spaces; fields after the last ')' are fixed.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return cpuSample{}, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return cpuSample{}, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	st, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return cpuSample{}, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	ticks := ut + st
	return cpuSample{cpu: time.Duration(ticks) * time.Second / clockTicks, wall: time.Now()}, nil
}

// selfRSS is the tool's own resident set size in bytes.
func selfRSS() uint64 {
	n, _ := procRSS(os.Getpid())
	return n
}
