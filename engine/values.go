package engine

// The rules of every conversion of values between Go and Lua are here; so
// is the code from Lua to Go. The code from Go to Lua is in
// values_tolua.go.
//
// Go to Lua (call arguments, slacker.call results, slacker.json.decode):
//
//	nil                                 nil
//	bool                                boolean
//	int, int8..int64, uint..uint64      number; beyond ±2^53 an error, since a
//	                                    Lua 5.1 number (a double) can't hold it
//	                                    exactly
//	float32, float64                    number (NaN and ±Inf too)
//	json.Number                         number, by the integer or float rule
//	string, []byte                      string
//	[]any, []string, []int, []int64,    table with keys 1..n, marked with the
//	[]float64, []bool                   array metatable (so an empty one stays
//	                                    an array); a nil element leaves a hole
//	map[string]any, map[string]string,  table marked with the map metatable, so
//	map[any]any                         that it stays a map when empty, and when
//	                                    all its values were nil (Lua drops
//	                                    nil values); keys of map[any]any must
//	                                    be strings, numbers or booleans
//	lua.LValue                          itself: a value the program made in
//	                                    the VM's state (see Config.Setup)
//	anything else                       error "cannot convert Go type T to Lua"
//
// Lua to Go (call results, slacker.call arguments, slacker.json.encode,
// slacker.log values):
//
//	nil                  nil
//	boolean              bool
//	number               int64 when integral and within ±2^53, else float64.
//	                     Lua 5.1 has one number type: 2.0 comes back as the
//	                     integer 2. NaN and ±Inf come back as float64 (a codec
//	                     may refuse them).
//	string               string if valid UTF-8, else []byte
//	table                []any when its keys are exactly 1..n (n >= 1), or
//	                     when it is empty and has the array metatable, or
//	                     when it has the array metatable and only positive
//	                     integer keys, not too sparse (the highest at most
//	                     twice their number plus 64): holes become nil, so
//	                     [1, null, 3] from the wire comes back the same;
//	                     nils at the end of an array are lost, as Lua
//	                     tables can't hold them;
//	                     map[string]any{} when it is empty and has the map
//	                     metatable; []any{} when it is empty otherwise;
//	                     map[string]any in every other case (holes, other
//	                     keys): string keys as they are, number keys
//	                     formatted ("%d" when integral, else "%g"); boolean
//	                     or table keys, or a number and a string key giving
//	                     the same text, are an error
//	function, userdata,  error "cannot convert Lua function to a value"
//	thread, channel
//
// Both ways, tables nested deeper than MaxDepth are an error ("value nested
// too deep"), and so is a table that contains itself ("cycle in table").
// Converting to Lua, a value (each argument, a slacker.call result, a
// slacker.json.decode result) whose size in the VM would pass
// luaSizeFactor times MaxStringSize (64 MiB by default) is an error ("value
// too large for Lua"), found before the VM holds it all. The size is
// counted as gopher-lua lays values out on 64-bit platforms, approximately:
// a table 96 bytes, 16 more for each element of an array, 768 more for a
// map and 144 for each of its keys (its hash part, key list and key index);
// a string 16 and its bytes; a number 8; nil and booleans nothing.
// Converting from Lua, a value whose strings' bytes plus one for every other
// element exceed MaxStringSize is an error ("value too large"): a table may
// refer to one string or one table many times, which would otherwise
// multiply in Go.
//
// Results: a function returning nothing gives nil, one value gives that
// value, several give a []any of all of them.
//
// Errors wrap ErrValue and say where the value failed: `result["a"][2]:
// cycle in table`.

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	lua "github.com/yuin/gopher-lua"
)

// maxExactInt is the largest integer a float64 holds exactly with all the
// integers below it: 2^53.
const maxExactInt = 1 << 53

// Reasons a value fails to convert, wrapped by *valueError.
var (
	errCycle    = errors.New("cycle in table")
	errDepth    = errors.New("value nested too deep")
	errRange    = errors.New("integer out of range for Lua numbers (±2^53)")
	errType     = errors.New("value of this type cannot be converted")
	errKey      = errors.New("table key cannot be converted")
	errTooLarge = errors.New("value too large")
)

// valueError is a value that failed to convert, and where.
type valueError struct {
	where  string   // "argument 1", "result", "slacker.json.encode"
	path   []string // keys from the innermost out: `[2]`, `["a"]`
	reason error    // one of the err* reasons above
	detail string   // the message when it says more than reason
}

func (e *valueError) Error() string {
	var b strings.Builder
	b.WriteString(e.where)
	for i := len(e.path) - 1; i >= 0; i-- {
		b.WriteString(e.path[i])
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.detail != "" {
		b.WriteString(e.detail)
	} else {
		b.WriteString(e.reason.Error())
	}
	return b.String()
}

func (e *valueError) Unwrap() []error { return []error{ErrValue, e.reason} }

func newValueError(reason error, format string, args ...any) *valueError {
	e := &valueError{reason: reason}
	if format != "" {
		e.detail = fmt.Sprintf(format, args...)
	}
	return e
}

// at records that err happened inside the element at key of its parent;
// key is an int index or a string key.
func at(err error, key any) error {
	ve, ok := err.(*valueError)
	if !ok {
		return err
	}
	switch k := key.(type) {
	case int:
		ve.path = append(ve.path, "["+strconv.Itoa(k)+"]")
	default:
		ve.path = append(ve.path, fmt.Sprintf("[%q]", fmt.Sprint(k)))
	}
	return err
}

// within names the value that failed: "argument 2", "result".
func within(err error, where string) error {
	if ve, ok := err.(*valueError); ok && ve.where == "" {
		ve.where = where
	}
	return err
}

// converter converts values for one VM. It is not safe for concurrent use,
// like the VM.
type converter struct {
	arrayMT  *lua.LTable // marks tables that are arrays even when empty
	mapMT    *lua.LTable // marks tables that are maps even when empty
	maxDepth int
	maxSize  int

	path   []*lua.LTable // tables being converted from Lua, outermost first
	budget int           // what is left of maxSize in the current conversion
	// luaBudget is what is left of luaSizeFactor*maxSize in the current
	// conversion to Lua.
	luaBudget int
}

func newConverter(L *lua.LState, maxDepth, maxSize int) *converter {
	c := &converter{
		arrayMT:  L.NewTable(),
		mapMT:    L.NewTable(),
		maxDepth: maxDepth,
		maxSize:  maxSize,
	}
	c.arrayMT.RawSetString("__name", lua.LString("slacker.array"))
	c.mapMT.RawSetString("__name", lua.LString("slacker.map"))
	return c
}

// ---- Lua to Go ----

// fromLuaValue converts one Lua value, with a fresh size budget.
func (c *converter) fromLuaValue(v lua.LValue) (any, error) {
	c.budget = c.maxSize
	return c.fromLua(v, 0)
}

// fromLua converts a Lua value. depth is the number of tables around v.
// Call it after setting budget.
func (c *converter) fromLua(v lua.LValue, depth int) (any, error) {
	switch x := v.(type) {
	case lua.LNumber:
		if !c.spend(1) {
			return nil, c.tooLarge()
		}
		return numberToGo(x), nil
	case lua.LString:
		if !c.spend(len(x)) {
			return nil, c.tooLarge()
		}
		if utf8.ValidString(string(x)) {
			return string(x), nil
		}
		return []byte(x), nil
	case lua.LBool:
		if !c.spend(1) {
			return nil, c.tooLarge()
		}
		return bool(x), nil
	case *lua.LNilType, nil:
		if !c.spend(1) {
			return nil, c.tooLarge()
		}
		return nil, nil
	case *lua.LTable:
		return c.tableToGo(x, depth)
	}
	return nil, newValueError(errType, "cannot convert Lua %s to a value", v.Type())
}

// spend takes n from the size budget and reports whether it lasted.
func (c *converter) spend(n int) bool {
	c.budget -= n
	return c.budget >= 0
}

func (c *converter) tooLarge() error {
	return newValueError(errTooLarge, "value too large (more than %d bytes)", c.maxSize)
}

func numberToGo(n lua.LNumber) any {
	f := float64(n)
	if f == math.Trunc(f) && f >= -maxExactInt && f <= maxExactInt {
		return int64(f)
	}
	return f
}

func (c *converter) tableToGo(t *lua.LTable, depth int) (any, error) {
	if err := c.enter(depth); err != nil {
		return nil, err
	}
	for _, p := range c.path {
		if p == t {
			return nil, newValueError(errCycle, "")
		}
	}
	if !c.spend(1) {
		return nil, c.tooLarge()
	}
	c.path = append(c.path, t)
	defer func() { c.path = c.path[:len(c.path)-1] }()

	n := t.MaxN()
	if n > 0 && isSequence(t, n) {
		out := make([]any, n)
		for i := range n {
			e, err := c.fromLua(t.RawGetInt(i+1), depth+1)
			if err != nil {
				return nil, at(err, i+1)
			}
			out[i] = e
		}
		return out, nil
	}
	if t.Metatable == c.arrayMT {
		if out, ok, err := c.arrayWithHoles(t, depth); ok {
			return out, err
		}
	}
	if n == 0 {
		if k, _ := t.Next(lua.LNil); k == lua.LNil {
			if t.Metatable == c.mapMT {
				return map[string]any{}, nil
			}
			return []any{}, nil
		}
	}
	out := make(map[string]any)
	var err error
	t.ForEach(func(k, v lua.LValue) {
		if err != nil {
			return
		}
		var key string
		switch kk := k.(type) {
		case lua.LString:
			key = string(kk)
		case lua.LNumber:
			key = numberKey(kk)
		default:
			err = newValueError(errKey, "cannot convert a %s table key", k.Type())
			return
		}
		if _, dup := out[key]; dup {
			err = newValueError(errKey, "key %q is both a number and a string", key)
			return
		}
		if !c.spend(len(key)) {
			err = c.tooLarge()
			return
		}
		var e any
		if e, err = c.fromLua(v, depth+1); err != nil {
			err = at(err, key)
			return
		}
		out[key] = e
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// arrayWithHoles converts a table marked as an array whose keys are
// positive integers but not exactly 1..n, as when an array from the wire
// held a null: the holes become nils. It reports false when the keys are not
// all positive integers, or so sparse (the highest more than twice their
// number, plus 64) that the table is better sent as a map.
func (c *converter) arrayWithHoles(t *lua.LTable, depth int) (any, bool, error) {
	highest, count, ok := 0, 0, true
	t.ForEach(func(k, _ lua.LValue) {
		n, isNum := k.(lua.LNumber)
		if !isNum || n < 1 || n > math.MaxInt32 || float64(n) != math.Trunc(float64(n)) {
			ok = false
			return
		}
		count++
		highest = max(highest, int(n))
	})
	if !ok || highest > 2*count+64 {
		return nil, false, nil
	}
	if !c.spend(highest) {
		return nil, true, c.tooLarge()
	}
	out := make([]any, highest)
	for i := range out {
		v := t.RawGetInt(i + 1)
		if v == lua.LNil {
			continue
		}
		e, err := c.fromLua(v, depth+1)
		if err != nil {
			return nil, true, at(err, i+1)
		}
		out[i] = e
	}
	return out, true, nil
}

// isSequence reports whether the keys of t are exactly 1..n, given n =
// t.MaxN(): no holes below n and no key other than those.
func isSequence(t *lua.LTable, n int) bool {
	for i := 1; i <= n; i++ {
		if t.RawGetInt(i) == lua.LNil {
			return false
		}
	}
	// Next from key n yields the first key that is not in the array part
	// below n, if any.
	k, _ := t.Next(lua.LNumber(n))
	return k == lua.LNil
}

func numberKey(n lua.LNumber) string {
	f := float64(n)
	if f == math.Trunc(f) && math.Abs(f) < 1<<63 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// ---- Results ----

// results converts the n values on top of L's stack, as a call's result:
// none is nil, one is itself, several are a []any.
func (c *converter) results(L *lua.LState, n int) (any, error) {
	c.budget = c.maxSize
	base := L.GetTop() - n
	switch n {
	case 0:
		return nil, nil
	case 1:
		v, err := c.fromLua(L.Get(base+1), 0)
		return v, within(err, "result")
	}
	out := make([]any, n)
	for i := range n {
		v, err := c.fromLua(L.Get(base+1+i), 0)
		if err != nil {
			return nil, within(err, "result "+strconv.Itoa(i+1))
		}
		out[i] = v
	}
	return out, nil
}

// errorMessage renders a Lua error value as a message: strings and numbers
// as they are, other values as JSON when they convert, else a description.
func (c *converter) errorMessage(v lua.LValue) string {
	switch x := v.(type) {
	case lua.LString:
		return string(x)
	case lua.LNumber:
		return x.String()
	case *lua.LNilType:
		return "nil"
	}
	if g, err := c.fromLuaValue(v); err == nil {
		if b, err := json.Marshal(g); err == nil {
			return string(b)
		}
	}
	return "(error object is a " + v.Type().String() + " value)"
}
