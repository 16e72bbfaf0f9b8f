// Package engine runs Lua namespaces: it compiles a namespace file once,
// runs it in a bounded pool of sandboxed gopher-lua VMs, maps values between
// Go and Lua, and calls its public functions with deadlines.
//
// The package knows nothing of the wire protocol or of service discovery:
// what Lua may call out to is handed in as a [Caller].
//
// # Example
//
//	src, err := os.ReadFile("lua/slacker/example/math.lua")
//	if err != nil { ... }
//	s, err := engine.Compile("slacker.example.math", "slacker/example/math.lua", src)
//	if err != nil { ... } // a *LoadError: file, line, message
//	ns, err := engine.Load(ctx, s, engine.Config{LibPath: "lua/_lib"})
//	if err != nil { ... } // a *LoadError, ctx.Err() wrapped, or an invalid Config
//	defer ns.Close()
//
//	sum, err := ns.Call(ctx, "add", []any{int64(1), int64(2)}) // int64(3)
//	var lerr *engine.LuaError
//	switch {
//	case errors.Is(err, engine.ErrNotFound):         // no public function "add"
//	case errors.Is(err, engine.ErrPoolFull):         // too many calls waiting
//	case errors.Is(err, context.DeadlineExceeded):   // stopped at its deadline
//	case errors.As(err, &lerr):                      // the Lua code raised an error
//	}
//
// # Namespace files
//
// A namespace file is a Lua chunk. If it returns a table, its public
// functions are that table's function-valued fields; if it returns nothing
// (or anything but a table), they are the global functions it defined:
// globals present after the chunk ran that a fresh sandbox does not have.
// Names starting with "_" are private, and local functions are not exported.
// Any string may name a function: M["rand-ints"] = function(n) ... end.
//
//	local M = {}
//
//	--- Returns a + b.
//	function M.add(a, b) return a + b end
//
//	M._options = { pool_size = 4, timeout = 2.5 }
//	return M
//
// [FuncInfo] describes each public function: the "---" comment lines
// directly above the line its definition starts on (without "---" and one
// space, joined with newlines) are its Doc; its Params are its named
// parameters and Variadic says whether it takes "...". A doc comment above a
// table constructor's field works too: `--- doc` then `f = function(a) end`.
//
// The options table is the field _options of the returned table, or the
// global _options when no table is returned:
//
//	pool_size   integer, 1..4096   VMs, overriding Config.PoolSize
//	queue_size  integer, >= 0      calls that may wait, overriding Config.QueueSize;
//	                               0 means none may wait
//	timeout     number > 0         seconds a call may run, overriding Config.Timeout
//	stateful    boolean            one VM: calls run one at a time and see each
//	                               other's state
//	idempotent  boolean            calls may be retried after a failure (for
//	                               clients; the engine only reports it)
//
// An unknown key, or a value of the wrong type, is a *LoadError naming the
// key.
//
// # VMs, state and pools
//
// Each VM of a namespace's pool runs the file once, when the VM is made:
// the first by Load, the others when calls need them, up to PoolSize. Each VM
// is used by one call at a time. State — globals, upvalues, the contents of
// the module table — belongs to one VM and is not shared with the other VMs
// of the pool: a counter kept in an upvalue counts the calls that VM served.
// A stateful namespace has one VM, so its state is the namespace's state.
//
// A VM whose call was stopped by its deadline or by cancellation, or that hit
// a Go panic, is discarded; the next call that needs it makes a fresh VM,
// running the file again. State kept in that VM is lost, even in a stateful
// namespace.
//
// # Calls and deadlines
//
// [Namespace.Call] runs a function until the earlier of ctx's deadline and
// now plus Options.Timeout; waiting for a free VM counts. The deadline is the
// VM's context: when it passes (or ctx is cancelled) the Lua code stops at
// its next instruction and Call returns an error wrapping ctx.Err(), not a
// *LuaError. pcall cannot save the call: the next instruction stops it again,
// and a call that still returns once its context is done fails the same way.
// The library functions whose cost a caller controls check the deadline
// too: string.find, string.match, string.gmatch and string.gsub run the
// engine's own pattern matcher, which checks it every 4096 steps, so a
// pattern whose cost grows as a power of its subject
// (string.find(("a"):rep(2000), "(.-)(.-)(.-)b")) stops with it;
// table.sort checks it every 1024 comparisons, table.concat and gsub's
// loop every 1024 elements or matches. A call therefore spends at most
// about a millisecond of CPU past its deadline (0.5 to 3 ms measured by
// TestBuiltinsStopAtDeadline) before Call returns. The other library
// functions are linear in sizes that Config.MaxStringSize and the VM's
// stack bound. Lua code can read its deadline with slacker.deadline and
// slacker.remaining.
//
// When PoolSize calls are running and QueueSize are waiting, Call fails at
// once with ErrPoolFull. Go panics inside a call are recovered and returned
// as errors; a Lua runtime error is a *LuaError carrying the Lua message
// ("api.lua:12: boom").
//
// Loading runs the file under Config.Timeout; a runtime error while loading
// is a *LoadError with the file and line.
//
// # Compiling
//
// Every compile (a namespace file, a module, load and loadstring) first
// scans the source: gopher-lua's parser and compiler recurse on the Go
// stack once per level of the syntax tree, and a Go stack overflow ends the
// process. Source nested or chained deeper than [MaxSyntaxDepth] levels
// (brackets, blocks, and the operators and suffixes chained in one
// expression, such as 1+1+...+1 or f()()...) is refused with "nested or
// chained deeper than 1000 levels" at its line: a *LoadError for a file,
// which keeps the old version serving, nil and the message for load.
// load's source is also bounded in size ([MaxLoadSize], or MaxStringSize if
// smaller: "source too large") and in distinct names and literals, whose
// compiling is quadratic in their number ("too many distinct names and
// literals to compile in time"), so that load compiles within about 0.1 s.
//
// # Memory
//
// A call has a memory budget, Options.MaxMemory (Config.MaxCallMemory,
// 256 MiB, or _options.max_memory). gopher-lua has no allocation hook, so
// the budget is kept by estimate: between every two instructions (through
// the context it gives the VM, whose Done gopher-lua calls there) the
// engine charges the call what the instruction may allocate (a .. result
// exactly, a table, a table slot set, a closure), and the library functions
// that build strings or tables, and coroutine creation, charge what they
// made. Every 1 MiB of charges the call reads the process's heap (a few
// microseconds). A call whose charges passed its budget while the heap
// grew by its budget too is stopped with ErrMemoryLimit (both: garbage and
// slots set again are charged but not held); so is every call that goes on
// allocating while the heap is past Config.MaxMemory. Its VM is replaced.
// What is exact: the .. check and the charges of strings. What is
// approximate: tables and closures (by their typical size), Go functions
// other than the library's, and the heap, which also holds what other
// calls hold and garbage not yet collected, so that a call is stopped
// between about its budget and its budget plus what the collector has not
// freed. The check costs Lua code about 10 to 20% of its instructions'
// time (BenchmarkLoop); a call of few instructions, nothing to speak of.
//
// The .. operator refuses a result longer than Config.MaxStringSize with
// the Lua error "string too large", before it builds it, and coroutines
// resuming coroutines nest at most 200 deep ("C stack overflow").
//
// # The Lua environment
//
// Every VM is a sandbox with these libraries:
//
//   - base, without dofile and loadfile. load and loadstring compile source
//     only (load also takes a string). print writes its arguments, separated
//     by tabs, to Config.Logger at info level. collectgarbage does nothing
//     and returns 0. require is the engine's (below).
//   - table, string, math, coroutine.
//   - os.time, os.clock, os.date and os.difftime; nothing else of os.
//
// io, debug, package and the rest of os are absent. string.rep (which also
// takes a separator, as in Lua 5.2), string.format, string.gsub,
// table.concat and load's reader refuse to build a string longer than
// Config.MaxStringSize with the Lua error "string too large", checking before
// they build it where they can; string.upper, string.lower and
// string.reverse refuse a longer argument the same way. string.format
// follows Lua 5.1's rules for directives (at most two digits of width and
// of precision). The .. operator is capped the same way (see Memory).
//
// The library tables (string, table, math, coroutine, os, slacker and
// slacker.json and slacker.log) are read-only views: writing a field of one,
// or rawset on one, raises "attempt to change the standard library:
// string.upper"; pairs and next over a view go over its library. getmetatable of a
// string, of a view and of _G is false, so the string metatable can't be
// changed, and once the file has run, _G's metatable can't be set (unless
// the file set one). A namespace's own globals stay its state: a call may
// set them, and the calls after it on that VM see them.
//
// Patterns are Lua 5.1's (see engine/internal/pattern), with the limits
// of Lua 5.2: at most 32 captures, and matching nested at most 200 deep
// (a capture or a repeated item is one level) before "pattern too
// complex"; a malformed pattern is refused with Lua's message before
// anything is matched, and a NUL byte in a pattern is an ordinary
// character. string.gmatch reads a leading ^ as a plain character, as
// Lua 5.1 does. string.gsub builds its result in one pass. table.sort is
// Lua 5.1's quicksort: a comparison function that is not an order raises
// "invalid order function for sorting" where it would take the sort past
// the ends of the table, and the table is written back once sorted.
// os.date refuses a format longer than 256 bytes ("date format too
// long"), so its result stays under 4 KiB; os.time takes year, month and
// day (required) and hour, min and sec, each a number within ±2^31
// ("field 'year' is out-of-bound"), normalising the rest as C's mktime
// does.
//
// Recursion is bounded: past 1024 nested calls Lua raises "stack overflow",
// and a call whose values outgrow the VM's stack (unpack of a huge table)
// raises "registry overflow". Both are ordinary Lua errors.
//
// A coroutine runs under the deadline of the call that resumes it.
//
// require("a.b") loads Config.LibPath/a/b.lua (names are dot-separated,
// without slashes, backslashes or colons, so nothing outside LibPath can be
// named), runs it in the same VM and sandbox with the module name as its
// argument, and returns what it returned (true for nothing). A module runs
// once per VM; each file is compiled once per namespace. A module whose
// file, links followed, is not under LibPath's parent (the served folder)
// is refused ("_lib/a.lua links to a file outside the served folder"). A missing module
// raises "module 'a.b' not found in lib path (tried _lib/a/b.lua)", naming
// the file from the lib folder's parent. The files a namespace required
// are listed by [Namespace.Requires].
//
// With Config.UnsafeLibs, io, os, debug and package are open fully, with
// dofile, loadfile, module and the real collectgarbage; print and require
// stay the engine's.
//
// The global table slacker links a namespace to its server:
//
//	slacker.namespace            the namespace's name
//	slacker.call("ns/fn", ...)   calls Config.Caller with the running call's
//	                             context and returns the result; an error
//	                             raises a Lua error with its message
//	slacker.json.encode(v)       v as JSON text (map keys sorted; a string that
//	                             is not UTF-8 encodes as base64, as []byte does)
//	slacker.json.decode(s)       the value of JSON text s: objects and arrays
//	                             are tables, arrays marked as arrays, null nil
//	slacker.log.info(msg, k1, v1, ...)
//	slacker.log.warn / .error / .debug
//	                             a record on Config.Logger with namespace=<name>,
//	                             the key/value pairs, and trace_id=<id> when the
//	                             call carries a trace context
//	slacker.deadline()           the running call's deadline in Unix
//	                             milliseconds, or nil
//	slacker.remaining()          seconds left before it, or nil
//	slacker.now()                the time in Unix milliseconds
//	slacker.trace_id()           the running call's W3C trace id (32 hex digits,
//	                             see package tracectx), or nil
//	slacker.array(...)           a table of the arguments that converts to an
//	                             array even when empty
//	slacker.map()                an empty table that converts to a map
//
// # Values
//
// Arguments convert from Go to Lua and results from Lua to Go by these rules
// (values.go has them too):
//
//	Go -> Lua
//	nil                                    nil
//	bool                                   boolean
//	int, int8..int64, uint..uint64         number; beyond ±2^53 an error ("integer N
//	                                       out of range for Lua numbers (±2^53)")
//	float32, float64                       number
//	json.Number                            number, by the same rules
//	string, []byte                         string
//	[]any, []string, []int, []int64,       table with keys 1..n, with the array
//	[]float64, []bool                      metatable so an empty one stays an array
//	map[string]any, map[string]string,     table; an empty one gets the map
//	map[any]any                            metatable so it stays a map
//	other types                            error "cannot convert Go type T to Lua"
//
//	Lua -> Go
//	nil                                    nil
//	boolean                                bool
//	number                                 int64 when integral and within ±2^53,
//	                                       else float64
//	string                                 string if valid UTF-8, else []byte
//	table with keys exactly 1..n           []any
//	empty table                            []any{}, or map[string]any{} if it has
//	                                       the map metatable
//	any other table                        map[string]any: number keys formatted
//	                                       ("%d" when integral, else "%g");
//	                                       boolean or table keys are an error
//	function, userdata, thread             error "cannot convert Lua function to
//	                                       a value"
//
// Lua 5.1 has one number type, a double: 2.0 comes back as the integer 2,
// and NaN and ±Inf come back as float64 (a codec may refuse them). A table
// with holes ({1, nil, 3}) is not a sequence and becomes a map
// {"1": 1, "3": 3}. Tables nested deeper than Config.MaxDepth ("value
// nested too deep"), tables containing themselves ("cycle in table"), and
// values from Lua whose strings' bytes plus one per other element exceed
// Config.MaxStringSize ("value too large") are errors. A function returning
// nothing gives nil, one value gives that value, several give a []any of all
// of them. Conversion errors wrap ErrValue and say where the value failed:
// `result["a"][2]: cycle in table`.
package engine
