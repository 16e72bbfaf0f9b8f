package engine

import (
	"errors"
	"strconv"
)

// Sentinel errors of [Namespace.Call]. Call wraps them with the namespace and
// function names; check them with errors.Is.
var (
	// ErrNotFound: the function is not exported (missing or private).
	ErrNotFound = errors.New("engine: function not found")
	// ErrPoolFull: every VM is busy and the queue of waiting calls is full.
	ErrPoolFull = errors.New("engine: pool full")
	// ErrClosed: the namespace was closed.
	ErrClosed = errors.New("engine: namespace closed")
	// ErrMemoryLimit: the call was stopped for allocating past its memory
	// budget (Config.MaxCallMemory, _options.max_memory), or while the
	// process was past its own (Config.MaxMemory). Its VM is replaced.
	ErrMemoryLimit = errors.New("engine: memory limit")
	// ErrValue: an argument or a result cannot cross between Go and Lua
	// (see the conversion rules in the package documentation). The error
	// says which value and where inside it.
	ErrValue = errors.New("engine: value cannot be converted")
)

// LoadError reports a namespace file, or a module it requires, that failed
// to compile or to run while loading.
type LoadError struct {
	Path string // the file, as given to Compile or found in Config.LibPath
	Line int    // 1-based line; 0 when unknown
	Msg  string // what went wrong, without the position
}

func (e *LoadError) Error() string {
	if e.Line == 0 {
		return e.Path + ": " + e.Msg
	}
	return e.Path + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
}

// LuaError is a Lua runtime error raised by a call: error(), a failed
// arithmetic, a stack overflow, an error raised by a library function.
type LuaError struct {
	Namespace string
	Function  string
	// Message is the Lua error message without a traceback, with the
	// position Lua gave it: "api.lua:12: boom". An error value that is not a
	// string or a number is rendered as JSON when it can be
	// (error({code = 7}) gives `{"code":7}`).
	Message string
}

// Error returns Message alone: it is the text a remote caller sees.
func (e *LuaError) Error() string { return e.Message }
