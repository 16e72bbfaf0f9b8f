package engine

import (
	"context"
	"reflect"
	"sync/atomic"
	"time"
	"unsafe"

	lua "github.com/yuin/gopher-lua"
)

// A guard is the context a Lua state runs a call under. gopher-lua checks
// its state's context between every two instructions by calling Done,
// which makes Done the engine's hook into the VM: there it looks at the
// instruction about to run (see currentInstruction), refuses a .. whose
// result would pass MaxStringSize, charges what the instruction may
// allocate to the call's memory account, and ends the call once the
// account is stopped. Everything else is the call's own context, parent.
//
// Only the state's own goroutine may call Done: the engine hands parent,
// never the guard, to code that might watch it from elsewhere (contextOf,
// and coroutines' contexts, see coroutineCreate), so that nothing derives
// a context from a guard.
type guard struct {
	parent context.Context
	L      *lua.LState // the state whose instructions Done sees
	acct   *account
}

func (g *guard) Deadline() (time.Time, bool) { return g.parent.Deadline() }
func (g *guard) Value(key any) any           { return g.parent.Value(key) }

// Err is the account's error once it is stopped, else parent's.
func (g *guard) Err() error {
	if err := g.acct.stopErr(); err != nil {
		return err
	}
	return g.parent.Err()
}

// Done runs the hook, then returns a closed channel once the account is
// stopped, else parent's Done.
func (g *guard) Done() <-chan struct{} {
	a := g.acct
	if a.stopped.Load() {
		return closed
	}
	if inst, ok := currentInstruction(g.L); ok {
		switch int(inst >> 26) {
		case lua.OP_CONCAT:
			g.concat(inst)
		case lua.OP_NEWTABLE:
			a.charge(costTable + costSlot*int64(inst&0x1ff+(inst>>9)&0x1ff))
		case lua.OP_SETTABLE, lua.OP_SETTABLEKS:
			a.charge(costSlot)
		case lua.OP_SETLIST:
			a.charge(costSlot * int64(inst&0x1ff))
		case lua.OP_CLOSURE:
			a.charge(costClosure)
		}
		if a.stopped.Load() {
			return closed
		}
	}
	return g.parent.Done()
}

// concat refuses a .. whose result would pass MaxStringSize, before it is
// built, and charges the result to the account.
func (g *guard) concat(inst uint32) {
	b, c := int(inst&0x1ff), int(inst>>9)&0x1ff
	size := g.concatSize(b, c, false)
	if size > g.acct.maxString && g.concatSize(b, c, true) > g.acct.maxString {
		g.L.RaiseError("string too large")
	}
	g.acct.charge(int64(size))
}

// concatSize is the length of the .. of registers b to c: exact, or with
// numbers at the most they may print (24 bytes) unless exact.
func (g *guard) concatSize(b, c int, exact bool) int {
	size := 0
	for r := b; r <= c; r++ {
		switch x := g.L.Get(r + 1).(type) {
		case lua.LString:
			size += len(x)
		case lua.LNumber:
			if exact {
				size += len(x.String())
			} else {
				size += 24
			}
		}
	}
	return size
}

var closed = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// Where gopher-lua keeps a state's current frame and, in the frame, its
// function and the index of its next instruction: fields it does not
// export, found by name once, and checked to be of the types expected, so
// that another version of gopher-lua laid out otherwise turns the hook's
// look at instructions off instead of misreading memory.
var frameLayout = func() (l struct {
	currentFrame, fn, pc uintptr
	ok                   bool
}) {
	cf, ok := reflect.TypeFor[lua.LState]().FieldByName("currentFrame")
	if !ok || cf.Type.Kind() != reflect.Pointer || cf.Type.Elem().Kind() != reflect.Struct {
		return l
	}
	fn, ok1 := cf.Type.Elem().FieldByName("Fn")
	pc, ok2 := cf.Type.Elem().FieldByName("Pc")
	if !ok1 || !ok2 || fn.Type != reflect.TypeFor[*lua.LFunction]() || pc.Type != reflect.TypeFor[int]() {
		return l
	}
	l.currentFrame, l.fn, l.pc, l.ok = cf.Offset, fn.Offset, pc.Offset, true
	return l
}()

// currentInstruction returns the instruction L's Lua function has just
// fetched and is about to run: gopher-lua fetches it, moves the frame's pc
// past it and only then checks the context. It reports false where the
// current frame is not a Lua function's.
func currentInstruction(L *lua.LState) (uint32, bool) {
	if !frameLayout.ok {
		return 0, false
	}
	cf := *(*unsafe.Pointer)(unsafe.Add(unsafe.Pointer(L), frameLayout.currentFrame))
	if cf == nil {
		return 0, false
	}
	fn := *(**lua.LFunction)(unsafe.Add(cf, frameLayout.fn))
	if fn == nil || fn.IsG || fn.Proto == nil {
		return 0, false
	}
	pc := *(*int)(unsafe.Add(cf, frameLayout.pc))
	if pc < 1 || pc > len(fn.Proto.Code) {
		return 0, false
	}
	return fn.Proto.Code[pc-1], true
}

// stopState is an account's stop, set once.
type stopState struct {
	stopped atomic.Bool
	err     atomic.Pointer[error]
}

func (s *stopState) stop(err error) {
	if s.err.CompareAndSwap(nil, &err) {
		s.stopped.Store(true)
	}
}

func (s *stopState) stopErr() error {
	if p := s.err.Load(); p != nil {
		return *p
	}
	return nil
}
