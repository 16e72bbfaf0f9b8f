package engine

import (
	"fmt"
	"runtime"
	"runtime/metrics"

	lua "github.com/yuin/gopher-lua"
)

// Memory bounds. gopher-lua allocates from Go's heap and has no allocation
// hook, so the engine bounds a call's memory by estimate, and checks the
// estimate against the process's heap:
//
//   - Each call has an account. The guard (see guard.go) charges it, between
//     instructions, what the instruction about to run may allocate: the
//     length of a .. result, a table, a table slot set, a closure; the
//     library functions that build strings or tables charge what they
//     built, and a coroutine charges its stacks. The charges overestimate
//     (setting a slot that exists charges it again).
//   - Every time a call has been charged another checkpointEvery bytes, it
//     reads the heap's size from the runtime (a few microseconds). The call
//     is stopped with ErrMemoryLimit when its charges have passed its
//     budget and the heap has grown by its budget since its first
//     checkpoint too: the second test keeps a call whose charges are high
//     but whose memory is garbage, or was set again, from being stopped.
//     The heap's figure counts garbage not yet collected, which on a busy
//     machine can be a budget's worth: before the call is stopped, the
//     garbage is collected (runtime.GC) and the heap read again, at most
//     once per quarter of its budget charged.
//     It is stopped too when the heap has passed the process's budget,
//     Config.MaxMemory, as every call that goes on allocating then is.
//
// So a call is stopped within about checkpointEvery of allocating its
// budget, from memory it holds; how much the process holds at that point
// depends on what the garbage collector has not yet freed, which the Go
// runtime bounds when its soft memory limit is set (the server sets it to
// MaxMemory).
const (
	costTable   = 96 // an empty table
	costSlot    = 40 // a slot of a table: its key and value, amortized growth
	costClosure = 64 // a closure without upvalues
	costThread  = 100 << 10
	// checkpointEvery is how many bytes a call is charged between two
	// looks at the heap.
	checkpointEvery = 1 << 20
)

// heapMetric is the runtime's figure of the heap: live objects and dead
// ones not yet swept.
const heapMetric = "/memory/classes/heap/objects:bytes"

// account is the memory of one call, charged on the VM's goroutine.
type account struct {
	stopState
	limit     int64 // the call's budget
	maxMemory int64 // the process's; 0: none
	maxString int   // MaxStringSize

	used      int64 // charged so far
	next      int64 // used at the next checkpoint
	heapStart int64 // the heap at the first checkpoint; -1 before it
	collectAt int64 // used from which grown may collect the garbage again
	depth     int   // coroutines resuming each other
	sample    []metrics.Sample
}

// reset readies a for a new call.
func (a *account) reset(limit, maxMemory int64, maxString int) {
	a.stopState = stopState{}
	a.limit, a.maxMemory, a.maxString = limit, maxMemory, maxString
	a.used, a.next, a.heapStart, a.collectAt, a.depth = 0, checkpointEvery, -1, 0, 0
}

// charge adds n bytes to the account, looking at the heap at each
// checkpoint.
func (a *account) charge(n int64) {
	a.used += n
	if a.used >= a.next {
		a.checkpoint()
	}
}

func (a *account) checkpoint() {
	a.next = a.used + checkpointEvery
	heap := a.heap()
	if a.heapStart < 0 {
		a.heapStart = heap - a.used // the call's charges so far are in it, about
	}
	switch {
	case a.used >= a.limit && a.grown(heap):
		a.stop(fmt.Errorf("%w: the call allocated more than its %d MiB", ErrMemoryLimit, a.limit>>20))
	case a.maxMemory > 0 && heap >= a.maxMemory:
		a.stop(fmt.Errorf("%w: the server's heap passed its %d MiB", ErrMemoryLimit, a.maxMemory>>20))
	}
}

// grown reports whether the heap has grown by the call's budget since its
// first checkpoint, and still has once the garbage is collected. Between
// two collections, a quarter of the budget apart, it says no.
func (a *account) grown(heap int64) bool {
	if heap-a.heapStart < a.limit || a.used < a.collectAt {
		return false
	}
	a.collectAt = a.used + a.limit/4
	runtime.GC()
	return a.heap()-a.heapStart >= a.limit
}

// heap reads the heap's size.
func (a *account) heap() int64 {
	if a.sample == nil {
		a.sample = []metrics.Sample{{Name: heapMetric}}
	}
	metrics.Read(a.sample)
	if a.sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(a.sample[0].Value.Uint64())
}

// chargeLibs makes the library functions that build strings or tables
// charge what they return to the call's account: every function of the
// string library, tostring, table.concat and table.insert (slacker's
// functions are made charging, see openSlacker).
func (v *vm) chargeLibs(g *lua.LTable) {
	charge := func(t *lua.LTable, name string) {
		if fn, ok := t.RawGetString(name).(*lua.LFunction); ok && fn.IsG {
			t.RawSetString(name, v.L.NewFunction(v.charging(fn.GFunction)))
		}
	}
	if str, ok := g.RawGetString(lua.StringLibName).(*lua.LTable); ok {
		var names []string
		str.ForEach(func(k, _ lua.LValue) { names = append(names, k.String()) })
		for _, name := range names {
			charge(str, name)
		}
	}
	charge(g, "tostring")
	if tab, ok := g.RawGetString(lua.TabLibName).(*lua.LTable); ok {
		charge(tab, "concat")
		insert := tab.RawGetString("insert").(*lua.LFunction).GFunction
		tab.RawSetString("insert", v.L.NewFunction(func(L *lua.LState) int {
			v.acct.charge(costSlot)
			return insert(L)
		}))
	}
}

// charging returns f charging the strings and tables it returns to the
// call's account (a table by its array part).
func (v *vm) charging(f lua.LGFunction) lua.LGFunction {
	return func(L *lua.LState) int {
		n := f(L)
		for i := L.GetTop() - n + 1; i <= L.GetTop(); i++ {
			switch x := L.Get(i).(type) {
			case lua.LString:
				v.acct.charge(int64(len(x)))
			case *lua.LTable:
				v.acct.charge(costTable + costSlot*int64(x.Len()))
			}
		}
		return n
	}
}
