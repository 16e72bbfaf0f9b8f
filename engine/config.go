package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// Config configures how namespaces are run. Its zero value works; each
// field's doc states its default. Load validates it.
type Config struct {
	// PoolSize is the number of Lua VMs per namespace, which is how many of
	// its calls run at once. 0 means runtime.GOMAXPROCS(0). A file's
	// _options.pool_size overrides it. At most 4096.
	PoolSize int

	// QueueSize is how many calls may wait for a free VM beyond the PoolSize
	// that are running. Past it Call fails at once with ErrPoolFull.
	// 0 means 256. A file's _options.queue_size overrides it.
	QueueSize int

	// Timeout is the deadline of a call whose ctx has none or a later one,
	// and the time a file may take to load. 0 means 10s. A file's
	// _options.timeout (seconds, a number, may be fractional) overrides it
	// for calls.
	Timeout time.Duration

	// MaxStringSize bounds the strings Lua's library functions may build
	// (string.rep, string.format, string.gsub, table.concat, load) and the
	// size of a value converted from Lua (the bytes of its strings plus one
	// for each other element; see the package documentation). 0 means
	// 16 MiB.
	MaxStringSize int

	// MaxCallMemory is the memory budget of one call, in bytes: a call
	// that allocates more and holds it is stopped with ErrMemoryLimit (see
	// the package documentation for how it is estimated). 0 means
	// 256 MiB. A file's _options.max_memory overrides it.
	MaxCallMemory int64

	// MaxMemory is the process's memory budget, in bytes: while the Go
	// heap is above it, every call that allocates is stopped with
	// ErrMemoryLimit. 0 means none. The engine does not set the Go
	// runtime's memory limit: a server sets it to the same figure (see
	// runtime/debug.SetMemoryLimit).
	MaxMemory int64

	// MaxDepth bounds the nesting of tables converted either way between Go
	// and Lua. 0 means 64.
	MaxDepth int

	// LibPath is the folder require loads modules from: require("a.b")
	// loads LibPath/a/b.lua. "" means require finds nothing.
	LibPath string

	// UnsafeLibs opens Lua's io, os, debug and package libraries fully,
	// with dofile and loadfile. Off by default: for trusted code only.
	UnsafeLibs bool

	// Logger receives slacker.log and print, with the attribute
	// namespace=<name>. nil discards them.
	Logger *slog.Logger

	// Caller is the target of slacker.call. nil means slacker.call raises
	// "slacker.call: no caller configured".
	Caller Caller

	// Setup, if set, is called with the state of each new VM, once the
	// sandbox is open and before the file runs, to add globals of the
	// program's own: those of slacker-lua test, say. The globals it sets
	// are not exported.
	Setup func(L *lua.LState)
}

// Caller runs a function of another namespace for slacker.call. name is
// "namespace/function"; args and the result follow the conversion rules of
// the package documentation. ctx is the context of the Lua call making the
// request, with its deadline.
type Caller interface {
	Call(ctx context.Context, name string, args []any) (any, error)
}

// Defaults and bounds of Config.
const (
	DefaultQueueSize     = 256
	DefaultTimeout       = 10 * time.Second
	DefaultMaxStringSize = 16 << 20
	DefaultMaxDepth      = 64
	DefaultMaxCallMemory = 256 << 20

	// MaxArgs bounds the arguments of a call: each takes a slot of the
	// VM's stack, which holds at most 256 Ki values.
	MaxArgs = 4096

	// MaxPoolSize bounds Config.PoolSize and _options.pool_size.
	MaxPoolSize = 4096
	// MaxQueueSize bounds Config.QueueSize and _options.queue_size.
	MaxQueueSize = 1 << 20
)

// Validate reports every field of c that is out of its range.
func (c Config) Validate() error {
	var errs []error
	if c.PoolSize < 0 || c.PoolSize > MaxPoolSize {
		errs = append(errs, fmt.Errorf("engine: Config.PoolSize %d: want 0 to %d", c.PoolSize, MaxPoolSize))
	}
	if c.QueueSize < 0 || c.QueueSize > MaxQueueSize {
		errs = append(errs, fmt.Errorf("engine: Config.QueueSize %d: want 0 to %d", c.QueueSize, MaxQueueSize))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("engine: Config.Timeout %v is negative", c.Timeout))
	}
	if c.MaxStringSize < 0 {
		errs = append(errs, fmt.Errorf("engine: Config.MaxStringSize %d is negative", c.MaxStringSize))
	}
	if c.MaxCallMemory < 0 {
		errs = append(errs, fmt.Errorf("engine: Config.MaxCallMemory %d is negative", c.MaxCallMemory))
	}
	if c.MaxMemory < 0 {
		errs = append(errs, fmt.Errorf("engine: Config.MaxMemory %d is negative", c.MaxMemory))
	}
	if c.MaxDepth < 0 {
		errs = append(errs, fmt.Errorf("engine: Config.MaxDepth %d is negative", c.MaxDepth))
	}
	return errors.Join(errs...)
}

// withDefaults returns c with its zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.PoolSize == 0 {
		c.PoolSize = min(runtime.GOMAXPROCS(0), MaxPoolSize)
	}
	if c.QueueSize == 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxStringSize == 0 {
		c.MaxStringSize = DefaultMaxStringSize
	}
	if c.MaxCallMemory == 0 {
		c.MaxCallMemory = DefaultMaxCallMemory
	}
	if c.MaxDepth == 0 {
		c.MaxDepth = DefaultMaxDepth
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
