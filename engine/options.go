package engine

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// Options says how a namespace is run: Config merged with the file's
// _options table.
type Options struct {
	PoolSize   int           // VMs; 1 when Stateful
	QueueSize  int           // calls that may wait for a VM
	Timeout    time.Duration // default deadline of a call
	MaxMemory  int64         // memory budget of a call, in bytes
	Stateful   bool          // one VM, calls one at a time, state kept
	Idempotent bool          // calls may be retried after a failure
}

// parseOptions merges the file's _options table over the configuration.
func (n *Namespace) parseOptions(v lua.LValue) (Options, error) {
	opts := Options{PoolSize: n.cfg.PoolSize, QueueSize: n.cfg.QueueSize, Timeout: n.cfg.Timeout, MaxMemory: n.cfg.MaxCallMemory}
	if v == lua.LNil {
		return opts, nil
	}
	t, ok := v.(*lua.LTable)
	if !ok {
		return opts, n.optionsError("_options: want a table, got %s", v.Type())
	}
	var keys []string
	var bad lua.LValue
	t.ForEach(func(k, _ lua.LValue) {
		if s, ok := k.(lua.LString); ok {
			keys = append(keys, string(s))
		} else {
			bad = k
		}
	})
	if bad != nil {
		return opts, n.optionsError("_options: unknown key %s", bad.String())
	}
	slices.Sort(keys)
	poolSet := false
	for _, k := range keys {
		val := t.RawGetString(k)
		switch k {
		case "pool_size":
			size, ok := integer(val)
			if !ok || size < 1 || size > MaxPoolSize {
				return opts, n.optionsError("_options.pool_size: want an integer from 1 to %d, got %s", MaxPoolSize, val)
			}
			opts.PoolSize, poolSet = int(size), true
		case "queue_size":
			size, ok := integer(val)
			if !ok || size < 0 || size > MaxQueueSize {
				return opts, n.optionsError("_options.queue_size: want an integer from 0 to %d, got %s", MaxQueueSize, val)
			}
			opts.QueueSize = int(size)
		case "timeout":
			sec, ok := val.(lua.LNumber)
			if !ok || !(sec > 0) || float64(sec) > math.MaxInt64/float64(time.Second) {
				return opts, n.optionsError("_options.timeout: want a positive number of seconds, got %s", val)
			}
			opts.Timeout = time.Duration(float64(sec) * float64(time.Second))
		case "max_memory":
			size, ok := integer(val)
			if !ok || size < 1<<20 {
				return opts, n.optionsError("_options.max_memory: want a number of bytes, at least 1 MiB (1048576), got %s", val)
			}
			opts.MaxMemory = size
		case "stateful", "idempotent":
			b, ok := val.(lua.LBool)
			if !ok {
				return opts, n.optionsError("_options.%s: want a boolean, got %s", k, val)
			}
			if k == "stateful" {
				opts.Stateful = bool(b)
			} else {
				opts.Idempotent = bool(b)
			}
		default:
			return opts, n.optionsError("_options: unknown key %q (want pool_size, queue_size, timeout, max_memory, stateful or idempotent)", k)
		}
	}
	if opts.Stateful {
		if poolSet && opts.PoolSize != 1 {
			return opts, n.optionsError("_options.pool_size: a stateful namespace has one VM, got %d", opts.PoolSize)
		}
		opts.PoolSize = 1
	}
	return opts, nil
}

// integer returns v as an integer if it is an integral number.
func integer(v lua.LValue) (int64, bool) {
	n, ok := v.(lua.LNumber)
	if !ok || float64(n) != math.Trunc(float64(n)) || math.Abs(float64(n)) > maxExactInt {
		return 0, false
	}
	return int64(n), true
}

// optionsError is a *LoadError about _options, on the first line of the
// file that mentions it.
func (n *Namespace) optionsError(format string, args ...any) error {
	line := 0
	for i, l := range n.script.lines {
		l = strings.TrimSpace(l)
		if strings.Contains(l, "_options") && !strings.HasPrefix(l, "--") {
			line = i + 1
			break
		}
	}
	return &LoadError{Path: n.script.Path, Line: line, Msg: fmt.Sprintf(format, args...)}
}
