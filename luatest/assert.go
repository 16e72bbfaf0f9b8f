package luatest

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// record is what a test's t saw: the first failure, a skip, the logs.
type record struct {
	t       *lua.LTable // the test's t
	failed  bool
	skipped bool
	where   string // "file:line:" of the failure or skip
	msg     string
	logs    []string
}

// abort is raised, as the error value, to end a test that failed or was
// skipped; the record says which.
const abort = "slacker-lua test: test ended"

// newT makes the t passed to each test function of the file, recording in
// rec. Its methods are called as t:eq(...) or t.eq(...). It also makes
// print a log line of the test's.
func newT(L *lua.LState, file, name string, rec *record) *lua.LTable {
	tt := &tester{file: file, rec: rec, t: L.NewTable()}
	tt.t.RawSetString("name", lua.LString(name))
	for _, m := range []struct {
		name string
		fn   methodFunc
	}{
		{"eq", (*tester).eq},
		{"ne", (*tester).ne},
		{"ok", (*tester).ok},
		{"near", (*tester).near},
		{"errors", (*tester).errors},
		{"fail", (*tester).failNow},
		{"skip", (*tester).skip},
		{"log", (*tester).log},
	} {
		tt.t.RawSetString(m.name, tt.method(L, m.fn))
	}
	L.SetGlobal("print", L.NewFunction(func(L *lua.LState) int {
		args := make([]lua.LValue, L.GetTop())
		for i := range args {
			args[i] = L.Get(i + 1)
		}
		return tt.log(L, args)
	}))
	return tt.t
}

// tester is the Go side of a test's t: the file whose lines its
// assertions are reported at, and the record they fill.
type tester struct {
	file string
	rec  *record
	t    *lua.LTable
}

// methodFunc is one of t's methods, given the arguments that follow t.
type methodFunc func(tt *tester, L *lua.LState, args []lua.LValue) int

// method makes fn a Lua function callable as t:name(...) and t.name(...).
func (tt *tester) method(L *lua.LState, fn methodFunc) *lua.LFunction {
	return L.NewFunction(func(L *lua.LState) int {
		args := make([]lua.LValue, 0, L.GetTop())
		for i := 1; i <= L.GetTop(); i++ {
			args = append(args, L.Get(i))
		}
		if len(args) > 0 && args[0] == tt.t {
			args = args[1:] // t:method(...)
		}
		return fn(tt, L, args)
	})
}

// where is the position in the test file the assertion was made at: the
// innermost frame of the file's, past pcall and library code.
func (tt *tester) where(L *lua.LState) string {
	for level := 1; level < 100; level++ {
		dbg, ok := L.GetStack(level)
		if !ok {
			break
		}
		if _, err := L.GetInfo("Sl", dbg, lua.LNil); err == nil && dbg.Source == tt.file && dbg.CurrentLine > 0 {
			return fmt.Sprintf("%s:%d:", tt.file, dbg.CurrentLine)
		}
	}
	return L.Where(1)
}

// end ends the test; the record says whether it failed or was skipped.
func (tt *tester) end(L *lua.LState) { L.Error(lua.LString(abort), 0) }

// fail records the test's first failure, msg prefixed with extra's first
// value (an assertion's own message) if any, and ends the test.
func (tt *tester) fail(L *lua.LState, msg string, extra []lua.LValue) {
	if len(extra) > 0 && extra[0] != lua.LNil {
		msg = lua.LVAsString(L.ToStringMeta(extra[0])) + ": " + msg
	}
	if !tt.rec.failed {
		tt.rec.failed, tt.rec.where, tt.rec.msg = true, tt.where(L), msg
	}
	tt.end(L)
}

// The comparisons.

func (tt *tester) eq(L *lua.LState, args []lua.LValue) int {
	got, want := arg(args, 0), arg(args, 1)
	if eq, err := equal(got, want, nil, 0); err != nil {
		tt.fail(L, err.Error(), tail(args, 2))
	} else if !eq {
		tt.fail(L, fmt.Sprintf("got %s, want %s", show(got), show(want)), tail(args, 2))
	}
	return 0
}

func (tt *tester) ne(L *lua.LState, args []lua.LValue) int {
	got, other := arg(args, 0), arg(args, 1)
	if eq, err := equal(got, other, nil, 0); err != nil {
		tt.fail(L, err.Error(), tail(args, 2))
	} else if eq {
		tt.fail(L, fmt.Sprintf("got %s, want anything else", show(got)), tail(args, 2))
	}
	return 0
}

func (tt *tester) ok(L *lua.LState, args []lua.LValue) int {
	if v := arg(args, 0); !lua.LVAsBool(v) {
		tt.fail(L, fmt.Sprintf("got %s, want a true value", show(v)), tail(args, 1))
	}
	return 0
}

func (tt *tester) near(L *lua.LState, args []lua.LValue) int {
	got, want, eps := arg(args, 0), arg(args, 1), arg(args, 2)
	g, ok1 := got.(lua.LNumber)
	w, ok2 := want.(lua.LNumber)
	e, ok3 := eps.(lua.LNumber)
	switch {
	case !ok2 || !ok3:
		tt.fail(L, fmt.Sprintf("near wants numbers to compare with, and a tolerance: got %s and %s", show(want), show(eps)), nil)
	case !ok1:
		tt.fail(L, fmt.Sprintf("got %s, want a number within %s of %s", show(got), show(eps), show(want)), tail(args, 3))
	case !(math.Abs(float64(g)-float64(w)) <= float64(e)): // NaN anywhere fails
		tt.fail(L, fmt.Sprintf("got %s, want %s ± %s", show(got), show(want), show(eps)), tail(args, 3))
	}
	return 0
}

// errors calls a function, protected, and checks the error it raised.
func (tt *tester) errors(L *lua.LState, args []lua.LValue) int {
	pattern, ok := arg(args, 0).(lua.LString)
	fn, isFn := arg(args, 1).(*lua.LFunction)
	if !ok || !isFn {
		tt.fail(L, fmt.Sprintf("errors wants a pattern and a function: got %s and %s", show(arg(args, 0)), show(arg(args, 1))), nil)
	}
	err := L.CallByParam(lua.P{Fn: fn, NRet: 0, Protect: true}, tail(args, 2)...)
	if err == nil {
		tt.fail(L, fmt.Sprintf("no error, want one matching %q", string(pattern)), nil)
	}
	if tt.rec.failed || tt.rec.skipped {
		tt.end(L) // an assertion or a skip of the function's own
	}
	msg := errorMessage(err)
	if !matches(L, msg, string(pattern)) {
		tt.fail(L, fmt.Sprintf("error %q, want one matching %q", msg, string(pattern)), nil)
	}
	L.Push(lua.LString(msg))
	return 1
}

// The ends and the logs.

// failNow is t:fail([msg]).
func (tt *tester) failNow(L *lua.LState, args []lua.LValue) int {
	msg := "failed"
	if len(args) > 0 {
		msg = lua.LVAsString(L.ToStringMeta(args[0]))
	}
	tt.fail(L, msg, nil)
	return 0
}

func (tt *tester) skip(L *lua.LState, args []lua.LValue) int {
	if !tt.rec.failed {
		tt.rec.skipped, tt.rec.where = true, tt.where(L)
		if len(args) > 0 {
			tt.rec.msg = lua.LVAsString(L.ToStringMeta(args[0]))
		}
	}
	tt.end(L)
	return 0
}

// log is t:log(...) and print.
func (tt *tester) log(L *lua.LState, args []lua.LValue) int {
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = lua.LVAsString(L.ToStringMeta(a))
	}
	tt.rec.logs = append(tt.rec.logs, tt.where(L)+" "+strings.Join(parts, " "))
	return 0
}

// arg is the i-th argument, nil past the end.
func arg(args []lua.LValue, i int) lua.LValue {
	if i < len(args) {
		return args[i]
	}
	return lua.LNil
}

func tail(args []lua.LValue, i int) []lua.LValue {
	if i >= len(args) {
		return nil
	}
	return args[i:]
}

// errorMessage is the message of a Lua error, without its traceback.
func errorMessage(err error) string {
	if ae, ok := err.(*lua.ApiError); ok {
		if s, ok := ae.Object.(lua.LString); ok {
			return string(s)
		}
		return ae.Object.String()
	}
	return err.Error()
}

// matches reports whether s matches the Lua pattern, as string.find does;
// a bad pattern matches as plain text.
func matches(L *lua.LState, s, pattern string) bool {
	find := L.GetField(L.GetGlobal("string"), "find")
	if f, ok := find.(*lua.LFunction); ok {
		if err := L.CallByParam(lua.P{Fn: f, NRet: 1, Protect: true}, lua.LString(s), lua.LString(pattern)); err == nil {
			v := L.Get(-1)
			L.Pop(1)
			return v != lua.LNil
		}
	}
	return strings.Contains(s, pattern)
}

// pair is two tables being compared, to stop at cycles.
type pair struct{ a, b *lua.LTable }

// maxDepth bounds the nesting of the tables equal compares.
const maxDepth = 200

// equal reports whether a and b are equal, tables by their contents.
// Tables nested deeper than maxDepth are an error.
func equal(a, b lua.LValue, seen map[pair]bool, depth int) (bool, error) {
	ta, ok1 := a.(*lua.LTable)
	tb, ok2 := b.(*lua.LTable)
	if !ok1 || !ok2 {
		if na, ok := a.(lua.LNumber); ok {
			nb, ok := b.(lua.LNumber)
			return ok && na == nb, nil
		}
		return a == b || a.Type() == b.Type() && a.Type() != lua.LTFunction && a.Type() != lua.LTUserData && a.String() == b.String(), nil
	}
	if ta == tb || seen[pair{ta, tb}] {
		return true, nil
	}
	if depth >= maxDepth {
		return false, fmt.Errorf("tables nested deeper than %d to compare", maxDepth)
	}
	if seen == nil {
		seen = make(map[pair]bool)
	}
	seen[pair{ta, tb}] = true
	same := true
	var err error
	n := 0
	ta.ForEach(func(k, v lua.LValue) {
		n++
		if same && err == nil {
			same, err = equal(v, tb.RawGet(k), seen, depth+1)
		}
	})
	if !same || err != nil {
		return false, err
	}
	tb.ForEach(func(lua.LValue, lua.LValue) { n-- })
	return n == 0, nil
}

// identifier matches the keys written without brackets.
var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// show renders v for a message: strings quoted, tables with their
// contents, keys sorted, nested ones to a depth.
func show(v lua.LValue) string {
	var b strings.Builder
	write(&b, v, 0)
	return b.String()
}

func write(b *strings.Builder, v lua.LValue, depth int) {
	switch v := v.(type) {
	case lua.LString:
		if len(v) > 200 {
			fmt.Fprintf(b, "%s... (%d bytes)", strconv.Quote(string(v[:200])), len(v))
			return
		}
		b.WriteString(strconv.Quote(string(v)))
	case *lua.LTable:
		if depth >= 4 {
			b.WriteString("{...}")
			return
		}
		type kv struct {
			k    string
			v    lua.LValue
			num  float64
			isNo bool
		}
		var kvs []kv
		v.ForEach(func(k, val lua.LValue) {
			e := kv{v: val}
			if n, ok := k.(lua.LNumber); ok {
				e.num, e.isNo = float64(n), true
			} else if s, ok := k.(lua.LString); ok {
				e.k = string(s)
				if !identifier.MatchString(e.k) {
					e.k = "[" + strconv.Quote(e.k) + "]"
				}
			} else {
				e.k = "[" + k.String() + "]"
			}
			kvs = append(kvs, e)
		})
		slices.SortFunc(kvs, func(x, y kv) int {
			switch {
			case x.isNo && y.isNo:
				return cmpFloat(x.num, y.num)
			case x.isNo:
				return -1
			case y.isNo:
				return 1
			}
			return strings.Compare(x.k, y.k)
		})
		b.WriteString("{")
		for i, e := range kvs {
			if i > 0 {
				b.WriteString(", ")
			}
			if i == 20 {
				fmt.Fprintf(b, "... %d more", len(kvs)-i)
				break
			}
			switch {
			case e.isNo && e.num == float64(i+1):
				// an array's element: no key
			case e.isNo:
				fmt.Fprintf(b, "[%s] = ", lua.LNumber(e.num).String())
			default:
				b.WriteString(e.k + " = ")
			}
			write(b, e.v, depth+1)
		}
		b.WriteString("}")
	default:
		b.WriteString(v.String())
	}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
