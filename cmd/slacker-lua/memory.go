package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/slacker-lua/slacker-lua/engine"
	"github.com/slacker-lua/slacker-lua/internal/bytesize"
)

// byteSize is a flag of a number of bytes: 1048576, 64KiB, 256MiB, 2GiB
// (K, M and G mean the same).
type byteSize int64

func (b *byteSize) String() string { return bytesize.Format(int64(*b)) }

func (b *byteSize) Set(s string) error {
	n, err := bytesize.Parse(s)
	if err != nil {
		return err
	}
	*b = byteSize(n)
	return nil
}

// memoryFlags are serve's memory budgets.
type memoryFlags struct {
	call, process byteSize
	fs            *flag.FlagSet
}

func (m *memoryFlags) register(fs *flag.FlagSet) {
	m.fs = fs
	m.call = engine.DefaultMaxCallMemory
	fs.Var(&m.call, "max-call-memory", "memory one call may allocate and hold before it is stopped with \"memory limit\" (`bytes`: 256MiB, 1GiB); a file's _options.max_memory wins")
	fs.Var(&m.process, "max-memory", "the server's memory budget (`bytes`); while the heap is past it, calls that allocate are stopped, and Go's garbage collector works to stay under it (default: GOMEMLIMIT if set, else 3/4 of the machine's or the cgroup's memory)")
}

// apply checks the budgets, sets the Go runtime's memory limit to the
// server's, and returns both.
func (m *memoryFlags) apply() (call, process int64, err error) {
	if m.call < 1<<20 {
		return 0, 0, fmt.Errorf("--max-call-memory %s: want at least 1MiB", m.call.String())
	}
	process = int64(m.process)
	switch {
	case isSet(m.fs, "max-memory"):
		if process < 16<<20 {
			return 0, 0, fmt.Errorf("--max-memory %s: want at least 16MiB", m.process.String())
		}
		debug.SetMemoryLimit(process)
	case os.Getenv("GOMEMLIMIT") != "":
		process = debug.SetMemoryLimit(-1)
	default:
		if total := machineMemory(); total > 0 {
			process = total / 4 * 3
			debug.SetMemoryLimit(process)
		}
	}
	return int64(m.call), process, nil
}

// machineMemory is the memory this process may use: the machine's, or its
// cgroup's limit where that is lower; 0 if unknown.
func machineMemory() int64 {
	var total int64
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
				kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				if err == nil {
					total = kb << 10
				}
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 && (total == 0 || n < total) {
			total = n
		}
	}
	return total
}
