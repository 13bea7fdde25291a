package chat

import (
	"bufio"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
)

// DefaultMaxBytes is a [MemoryStore]'s MaxBytes unless set: a quarter of
// the memory this process may use (its GOMEMLIMIT, else its cgroup's
// memory.max, else the machine's MemTotal), at least 64 MiB; 256 MiB where
// none is known.
func DefaultMaxBytes() int64 {
	memOnce.Do(func() {
		memDefault = 256 << 20
		if limit := memoryAvailable(); limit > 0 {
			memDefault = max(limit/4, 64<<20)
		}
	})
	return memDefault
}

var (
	memOnce    sync.Once
	memDefault int64
)

// memoryAvailable is what the process may use, in bytes, or 0 if unknown.
func memoryAvailable() int64 {
	if l := debug.SetMemoryLimit(-1); l > 0 && l < math.MaxInt64 {
		return l
	}
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if b, err := os.ReadFile(f); err == nil {
			if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 && n < 1<<50 {
				return n
			}
		}
	}
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}
