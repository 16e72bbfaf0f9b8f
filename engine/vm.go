package engine

import (
	"context"
	"fmt"

	lua "github.com/yuin/gopher-lua"
)

// vm is one Lua state of a pool, used by one call at a time.
type vm struct {
	ns     *Namespace
	L      *lua.LState
	conv   *converter
	fns    []*lua.LFunction      // the public functions, indexed like ns.funcs
	loaded map[string]lua.LValue // require's modules by name; nil while loading
	guard  guard                 // the context L runs under (see guard.go)
	acct   account               // the memory of the call running
}

// newVM makes a VM with the sandbox and the slacker module, ready to run
// the file.
func (n *Namespace) newVM() *vm {
	L := newState()
	v := &vm{
		ns:     n,
		L:      L,
		conv:   newConverter(L, n.cfg.MaxDepth, n.cfg.MaxStringSize),
		loaded: make(map[string]lua.LValue),
	}
	v.guard = guard{L: L, acct: &v.acct}
	v.openLibs()
	v.openSlacker()
	if n.cfg.Setup != nil {
		n.cfg.Setup(L)
	}
	v.protect()
	return v
}

func (v *vm) close() { v.L.Close() }

// enter makes ctx the context of v's state for a call with a memory budget
// of limit bytes, through v's guard.
func (v *vm) enter(ctx context.Context, limit int64) {
	v.acct.reset(limit, v.ns.cfg.MaxMemory, v.ns.cfg.MaxStringSize)
	v.guard.parent = ctx
	v.L.SetContext(&v.guard)
}

// leave ends what enter began.
func (v *vm) leave() {
	v.L.RemoveContext()
	v.guard.parent = nil
}

// start runs the namespace's file in v under ctx and returns its first
// result.
func (v *vm) start(ctx context.Context) (ret lua.LValue, err error) {
	L := v.L
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("Go panic: %v", r)
		}
	}()
	v.enter(ctx, v.ns.cfg.MaxCallMemory)
	defer v.leave()
	L.Push(L.NewFunctionFromProto(v.ns.script.proto))
	if err := L.PCall(0, 1, nil); err != nil {
		return nil, err
	}
	ret = L.Get(-1)
	L.SetTop(0)
	v.protectGlobals()
	return ret, nil
}

// run calls function idx of v with args under ctx. healthy is false when
// the VM must not be used again: the call was stopped by ctx, or panicked.
func (v *vm) run(ctx context.Context, idx int, args []any) (res any, healthy bool, err error) {
	L := v.L
	defer func() {
		if r := recover(); r != nil {
			res, healthy, err = nil, false, v.errorf(idx, fmt.Errorf("Go panic: %v", r))
		}
	}()
	v.enter(ctx, v.ns.opts.MaxMemory)
	defer func() {
		L.SetTop(0)
		v.leave()
	}()
	L.Push(v.fns[idx])
	for i, a := range args {
		lv, err := v.conv.toLua(L, a, 0)
		if err != nil {
			return nil, true, v.errorf(idx, within(err, "argument "+itoa(i+1)))
		}
		L.Push(lv)
	}
	err = L.PCall(len(args), lua.MultRet, nil)
	if err := v.guard.Err(); err != nil {
		// Also after a success: Lua code can swallow the context's error
		// with pcall and return it from a Go function, in a tail call.
		return nil, false, v.errorf(idx, err)
	}
	if err != nil {
		aerr, ok := err.(*lua.ApiError)
		if !ok || aerr.Type == lua.ApiErrorPanic {
			return nil, false, v.errorf(idx, fmt.Errorf("Go panic: %v", err))
		}
		return nil, true, &LuaError{Namespace: v.ns.name, Function: v.ns.funcs[idx].Name, Message: v.conv.errorMessage(aerr.Object)}
	}
	res, err = v.conv.results(L, L.GetTop())
	if err != nil {
		return nil, true, v.errorf(idx, err)
	}
	return res, true, nil
}

func (v *vm) errorf(idx int, err error) error {
	return fmt.Errorf("engine: %s/%s: %w", v.ns.name, v.ns.funcs[idx].Name, err)
}
