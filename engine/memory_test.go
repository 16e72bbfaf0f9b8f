package engine

import (
	"errors"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
)

const hogsLua = `
local M = {}
local s = ("x"):rep(1024 * 1024)
local kept = 0
-- Holds 1 MiB strings until stopped.
function M.strings() local t = {} for i = 1, 1e9 do t[i] = s .. i end end
-- Holds numbers until stopped (the example's rand-ints).
function M.numbers() local t = {} for i = 1, 1e9 do t[i] = math.random(1, 100) end end
-- Holds empty tables until stopped.
function M.tables() local t = {} for i = 1, 1e9 do t[i] = {} end end
-- Holds strings through table.insert and string.rep.
function M.inserts() local t = {} for i = 1, 1e9 do table.insert(t, ("y"):rep(4096)) end end
-- Holds coroutines.
function M.threads() local t = {} for i = 1, 1e9 do t[i] = coroutine.create(function() end) end end
-- Doubles a string, within MaxStringSize, and keeps the copies.
function M.doubling() local t = {} for i = 1, 1e9 do t[i] = s .. s .. s .. s end end
-- Allocates n MiB, all of it garbage at once.
function M.garbage(n) for i = 1, n do local x = s .. i end return n end
-- Sets one slot n times.
function M.overwrite(n) local t = {} for i = 1, n do t[1] = i end return n end
-- Counts its calls on this VM.
function M.count() kept = kept + 1 return kept end
-- Nests coroutines n deep.
function M.nest(n)
  local function down(k) if k == 0 then return 0 end return coroutine.wrap(down)(k - 1) + 1 end
  return down(n)
end
return M
`

func TestMemoryLimit(t *testing.T) {
	// A small budget: the hogs run slowly under the race detector.
	ns := load(t, hogsLua, Config{PoolSize: 1, MaxCallMemory: 16 << 20})
	mustCall(t, ns, "count")
	for _, fn := range []string{"strings", "numbers", "tables", "inserts", "threads", "doubling"} {
		t.Run(fn, func(t *testing.T) {
			before := heapBytes()
			_, err := call(t, ns, fn)
			if !errors.Is(err, ErrMemoryLimit) || !strings.Contains(err.Error(), "more than its 16 MiB") {
				t.Fatalf("got %v, want ErrMemoryLimit", err)
			}
			if grew := heapBytes() - before; grew > 64<<20 {
				t.Errorf("the heap grew by %d MiB for a 16 MiB budget", grew>>20)
			}
			// The VM was replaced: its state starts again.
			if got := mustCall(t, ns, "count"); got != int64(1) {
				t.Fatalf("count after the stop = %v, want 1 (a new VM)", got)
			}
		})
	}
}

func TestMemoryLimitSparesGarbage(t *testing.T) {
	ns := load(t, hogsLua, Config{MaxCallMemory: 16 << 20})
	// Eight times the budget, of garbage; a budget of slot sets, again
	// and again.
	if got, err := call(t, ns, "garbage", 128); err != nil || got != int64(128) {
		t.Fatalf("garbage = %v, %v", got, err)
	}
	if got, err := call(t, ns, "overwrite", 2_000_000); err != nil || got != int64(2_000_000) {
		t.Fatalf("overwrite = %v, %v", got, err)
	}
}

func TestMemoryLimitOption(t *testing.T) {
	src := `_options = { max_memory = 8 * 1024 * 1024 }
local s = ("x"):rep(1024 * 1024)
function hog() local t = {} for i = 1, 1e9 do t[i] = s .. i end end`
	ns := load(t, src, Config{})
	if _, err := call(t, ns, "hog"); !errors.Is(err, ErrMemoryLimit) || !strings.Contains(err.Error(), "more than its 8 MiB") {
		t.Fatalf("got %v, want ErrMemoryLimit of 8 MiB", err)
	}
}

func TestProcessMemoryLimit(t *testing.T) {
	limit := heapBytes() + 48<<20
	ns := load(t, hogsLua, Config{MaxCallMemory: 1 << 40, MaxMemory: limit})
	_, err := call(t, ns, "strings")
	if !errors.Is(err, ErrMemoryLimit) || !strings.Contains(err.Error(), "server's heap") {
		t.Fatalf("got %v, want ErrMemoryLimit of the server", err)
	}
}

func TestResumeDepth(t *testing.T) {
	ns := load(t, hogsLua, Config{})
	if got := mustCall(t, ns, "nest", 150); got != int64(150) {
		t.Fatalf("nest(150) = %v", got)
	}
	_, err := call(t, ns, "nest", 300000)
	if le := luaError(t, err); !strings.Contains(le.Message, "C stack overflow") {
		t.Fatalf("got %q, want C stack overflow", le.Message)
	}
}

func TestFrameLayout(t *testing.T) {
	// The guard reads gopher-lua's frames; a version laid out otherwise
	// would turn the .. check and the charges off, silently but for this.
	if !frameLayout.ok {
		t.Fatal("gopher-lua's frame layout is not the one the guard reads")
	}
}

func heapBytes() int64 {
	runtime.GC()
	s := []metrics.Sample{{Name: heapMetric}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// BenchmarkLoop measures what the guard costs a call that runs many
// instructions: a loop of arithmetic, and one that builds strings and
// tables.
func BenchmarkLoop(b *testing.B) {
	ns := load(b, `
function arith(n) local x = 0 for i = 1, n do x = x + i % 7 end return x end
function build(n) local t = {} for i = 1, n do t[i % 64 + 1] = { "k" .. i } end return #t end`, Config{PoolSize: 1})
	for _, fn := range []string{"arith", "build"} {
		b.Run(fn, func(b *testing.B) {
			for b.Loop() {
				if _, err := call(b, ns, fn, 10000); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestTooManyArguments(t *testing.T) {
	ns := load(t, `function n(...) return select("#", ...) end`, Config{})
	if got := mustCall(t, ns, "n", make([]any, MaxArgs)...); got != int64(MaxArgs) {
		t.Fatalf("n of %d arguments = %v", MaxArgs, got)
	}
	_, err := call(t, ns, "n", make([]any, 1<<20)...)
	if !errors.Is(err, ErrValue) || !strings.Contains(err.Error(), "1048576 arguments, more than 4096") {
		t.Fatalf("got %v, want ErrValue for too many arguments", err)
	}
}
