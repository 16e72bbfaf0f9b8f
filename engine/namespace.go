package engine

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// FuncInfo describes a public function of a namespace.
type FuncInfo struct {
	Name     string   // the key it is exported under
	Doc      string   // the "---" comment lines right above its definition; "" if none
	Params   []string // its named parameters ("self" first for a method)
	Variadic bool     // it takes "..."
	Line     int      // the line its definition starts on; 0 for a Go function
}

// Namespace is a loaded namespace file: its public functions and a pool of
// VMs to run them. Its methods are safe for concurrent use.
type Namespace struct {
	name   string
	script *Script
	cfg    Config // with defaults
	opts   Options
	log    *slog.Logger // cfg.Logger with namespace=name

	funcs     []FuncInfo     // sorted by name
	index     map[string]int // name -> index in funcs and vm.fns
	fromTable bool           // exported from the returned table, not from globals

	// slots holds one entry per VM of the pool: an idle VM, or nil for a
	// VM yet to be made. A call takes an entry and gives one back.
	slots   chan *vm
	pending atomic.Int64 // calls running or waiting for a VM
	limit   int64        // PoolSize + QueueSize
	closed  atomic.Bool
	done    chan struct{} // closed by Close

	mu       sync.Mutex
	modules  map[string]*module // compiled modules by chunk name, shared by the VMs
	requires []Module           // in the order first required
}

// Load runs a compiled namespace file in a first VM: it validates the file,
// reads its _options and its public functions. The other VMs of the pool
// are made when calls need them.
//
// The file runs until the earlier of ctx's deadline and now plus
// Config.Timeout. A runtime error while loading, or a load that takes
// longer than Config.Timeout, is a *LoadError with the file and line; a
// load stopped by ctx (cancelled, or its deadline passed) is an error
// wrapping ctx.Err(), and its VM is closed. An invalid cfg is an error
// naming every bad field.
func Load(ctx context.Context, s *Script, cfg Config) (*Namespace, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("engine: loading %s: %w", s.Name, err)
	}
	cfg = cfg.withDefaults()
	n := &Namespace{
		name:    s.Name,
		script:  s,
		cfg:     cfg,
		log:     cfg.Logger.With("namespace", s.Name),
		done:    make(chan struct{}),
		modules: make(map[string]*module),
	}
	v := n.newVM()
	before := make(map[string]bool)
	v.L.G.Global.ForEach(func(k, _ lua.LValue) {
		if s, ok := k.(lua.LString); ok {
			before[string(s)] = true
		}
	})
	lctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	ret, err := v.start(lctx)
	if err == nil {
		err = n.readExports(v, ret, before)
	}
	if err == nil {
		err = n.bind(v, ret)
	}
	switch {
	case ctx.Err() != nil:
		// Also after a success: the file may have swallowed the error
		// with pcall.
		v.close()
		return nil, fmt.Errorf("engine: loading %s: %w", s.Name, ctx.Err())
	case err != nil:
		v.close()
		if _, ok := err.(*LoadError); ok {
			return nil, err
		}
		return nil, n.loadError(lctx, err)
	}
	n.slots = make(chan *vm, n.opts.PoolSize)
	n.slots <- v
	for range n.opts.PoolSize - 1 {
		n.slots <- nil
	}
	n.limit = int64(n.opts.PoolSize + n.opts.QueueSize)
	return n, nil
}

// Name returns the namespace's name.
func (n *Namespace) Name() string { return n.name }

// Script returns the file the namespace was loaded from.
func (n *Namespace) Script() *Script { return n.script }

// Options returns how the namespace is run.
func (n *Namespace) Options() Options { return n.opts }

// Functions returns the public functions, sorted by name.
func (n *Namespace) Functions() []FuncInfo {
	out := slices.Clone(n.funcs)
	for i := range out {
		out[i].Params = slices.Clone(out[i].Params)
	}
	return out
}

// Module is a file a namespace loaded with require.
type Module struct {
	Path string // the file, in Config.LibPath
	Hash string // hex SHA-256 of the source the namespace compiled
}

// Requires returns the modules the namespace required, while loading and in
// its calls since, sorted by path. A namespace depends on them: when one
// changes, it needs loading again.
func (n *Namespace) Requires() []Module {
	n.mu.Lock()
	out := slices.Clone(n.requires)
	n.mu.Unlock()
	slices.SortFunc(out, func(a, b Module) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// Call calls the public function fn with args and returns its result (see
// the conversion rules in the package documentation).
//
// The call runs until its deadline: the earlier of ctx's and now plus
// Options.Timeout; waiting for a free VM counts. When ctx is done first, the
// Lua code is stopped and Call returns an error wrapping ctx.Err() (also
// when ctx is done while waiting). Other errors: ErrNotFound, ErrPoolFull
// when PoolSize calls run and QueueSize wait, ErrClosed, a *LuaError for a
// Lua runtime error, an error wrapping ErrValue for an argument or result
// that can't be converted, a *LoadError when a new VM fails to load the file.
func (n *Namespace) Call(ctx context.Context, fn string, args []any) (any, error) {
	idx, ok := n.index[fn]
	if !ok {
		return nil, fmt.Errorf("%w: %s/%s", ErrNotFound, n.name, fn)
	}
	if n.closed.Load() {
		return nil, n.errClosed()
	}
	if len(args) > MaxArgs {
		return nil, fmt.Errorf("engine: %s/%s: %w: %d arguments, more than %d", n.name, fn, ErrValue, len(args), MaxArgs)
	}
	if n.pending.Add(1) > n.limit {
		n.pending.Add(-1)
		return nil, fmt.Errorf("%w: %s: %d calls running, %d waiting", ErrPoolFull, n.name, n.opts.PoolSize, n.opts.QueueSize)
	}
	defer n.pending.Add(-1)

	deadline := time.Now().Add(n.opts.Timeout)
	if d, ok := ctx.Deadline(); !ok || d.After(deadline) {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	v, err := n.acquire(ctx, fn)
	if err != nil {
		return nil, err
	}
	res, healthy, err := v.run(ctx, idx, args)
	if !healthy {
		v.close()
		v = nil
	}
	n.release(v)
	return res, err
}

// Pending returns the calls running on the namespace and those waiting for
// one of its VMs.
func (n *Namespace) Pending() int { return int(n.pending.Load()) }

// Close closes the namespace: idle VMs now, busy ones when their call ends.
// Calls waiting for a VM, and later calls, fail with ErrClosed. Close waits
// for nothing and may be called more than once.
func (n *Namespace) Close() {
	if n.closed.Swap(true) {
		return
	}
	close(n.done)
	n.drain()
}

func (n *Namespace) errClosed() error {
	return fmt.Errorf("%w: %s", ErrClosed, n.name)
}

// acquire takes a VM from the pool, waiting for one as long as ctx allows,
// and makes it if its slot is empty.
func (n *Namespace) acquire(ctx context.Context, fn string) (*vm, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("engine: %s/%s: %w", n.name, fn, err)
	}
	var v *vm
	select {
	case v = <-n.slots:
	default:
		select {
		case v = <-n.slots:
		case <-ctx.Done():
			return nil, fmt.Errorf("engine: %s/%s: waiting for a VM: %w", n.name, fn, ctx.Err())
		case <-n.done:
			return nil, n.errClosed()
		}
	}
	if n.closed.Load() {
		if v != nil {
			v.close()
		}
		n.release(nil)
		return nil, n.errClosed()
	}
	if v == nil {
		var err error
		if v, err = n.replacement(ctx); err != nil {
			n.release(nil)
			return nil, err
		}
	}
	return v, nil
}

// release gives a pool slot back: an idle VM, or nil when the VM was
// discarded.
func (n *Namespace) release(v *vm) {
	n.slots <- v // never blocks: the caller holds one of the slots
	if n.closed.Load() {
		n.drain()
	}
}

// drain closes the idle VMs of a closed namespace.
func (n *Namespace) drain() {
	for {
		select {
		case v := <-n.slots:
			if v != nil {
				v.close()
			}
		default:
			return
		}
	}
}

// replacement makes a VM for an empty slot: it runs the file again, under
// the deadline of the call that needs the VM.
func (n *Namespace) replacement(ctx context.Context) (*vm, error) {
	v := n.newVM()
	ret, err := v.start(ctx)
	if err == nil {
		err = n.bind(v, ret)
	}
	if err != nil {
		v.close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("engine: %s: loading a new VM: %w", n.name, ctx.Err())
		}
		return nil, fmt.Errorf("engine: %s: loading a new VM: %w", n.name, n.loadError(ctx, err))
	}
	return v, nil
}

// loadError turns an error running the file into a *LoadError, with the
// file and line the Lua message starts with.
func (n *Namespace) loadError(ctx context.Context, err error) error {
	msg := err.Error()
	if aerr, ok := err.(*lua.ApiError); ok {
		msg = (&converter{maxDepth: n.cfg.MaxDepth, maxSize: n.cfg.MaxStringSize}).errorMessage(aerr.Object)
	}
	files := []string{n.script.Path}
	n.mu.Lock()
	for chunk := range n.modules {
		files = append(files, chunk)
	}
	n.mu.Unlock()
	le := &LoadError{Path: n.script.Path, Msg: msg}
	for _, f := range files {
		rest, ok := strings.CutPrefix(msg, f+":")
		if !ok {
			continue
		}
		end := 0
		for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
			end++
		}
		if end == 0 || end == len(rest) || rest[end] != ':' {
			continue
		}
		le.Path = f
		le.Line, _ = strconv.Atoi(rest[:end])
		le.Msg = strings.TrimPrefix(rest[end+1:], " ")
		break
	}
	if ctx.Err() != nil {
		le.Msg = fmt.Sprintf("loading took longer than %v: %s", n.cfg.Timeout, le.Msg)
	}
	return le
}

func itoa(i int) string { return strconv.Itoa(i) }
