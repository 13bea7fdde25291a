package chat

import (
	"runtime"
	"runtime/debug"
	"testing"
)

// TestMemoryAvailable: the memory store's default limit follows what the
// process may use: GOMEMLIMIT when set, else the cgroup's or the machine's.
func TestMemoryAvailable(t *testing.T) {
	machine := memoryAvailable()
	prev := debug.SetMemoryLimit(3 << 30)
	defer debug.SetMemoryLimit(prev)
	if got := memoryAvailable(); got != 3<<30 {
		t.Fatalf("with GOMEMLIMIT 3 GiB: %d", got)
	}
	debug.SetMemoryLimit(prev)
	if runtime.GOOS == "linux" && machine <= 0 || machine != memoryAvailable() {
		t.Fatalf("without GOMEMLIMIT: %d", machine)
	}
	t.Logf("this machine: %d MiB, so MemoryStore's default MaxBytes is %d MiB", machine>>20, DefaultMaxBytes()>>20)
}
