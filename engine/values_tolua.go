package engine

// Go to Lua, by the rules at the top of values.go.

import (
	"encoding/json"
	"math"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// luaSizeFactor bounds the size of a value converted to Lua: at most
// luaSizeFactor times MaxStringSize.
const luaSizeFactor = 4

// Sizes of Lua values, as a conversion to Lua counts them.
const (
	luaSizeTable   = 96  // an LTable
	luaSizeElem    = 16  // an element of a table's array part
	luaSizeMap     = 768 // a table's hash part, key list and key index, made for a few keys
	luaSizeKey     = 144 // one key in them
	luaSizeString  = 16  // a boxed string header
	luaSizeNumber  = 8   // a boxed number
	luaSizeNothing = 0
)

// spendLua takes n from the Lua size budget, and fails when it is spent.
func (c *converter) spendLua(n int) error {
	c.luaBudget -= n
	if c.luaBudget < 0 {
		return newValueError(errTooLarge, "value too large for Lua (more than %d bytes)", luaSizeFactor*c.maxSize)
	}
	return nil
}

// toLua converts a Go value. depth is the number of tables around v; at
// depth 0 a conversion starts, with a fresh Lua size budget.
func (c *converter) toLua(L *lua.LState, v any, depth int) (lua.LValue, error) {
	if depth == 0 {
		c.luaBudget = luaSizeFactor * c.maxSize
	}
	return c.goToLua(L, v, depth)
}

// goToLua converts a Go value within the Lua size budget.
func (c *converter) goToLua(L *lua.LState, v any, depth int) (lua.LValue, error) {
	if err := c.spendLua(luaSize(v)); err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case nil:
		return lua.LNil, nil
	case lua.LValue:
		return x, nil // made in L by the program, as with Config.Setup
	case bool:
		return lua.LBool(x), nil
	case string:
		return lua.LString(x), nil
	case int64:
		return intToLua(x)
	case float64:
		return lua.LNumber(x), nil
	case int:
		return intToLua(int64(x))
	case int8:
		return lua.LNumber(x), nil
	case int16:
		return lua.LNumber(x), nil
	case int32:
		return lua.LNumber(x), nil
	case uint:
		return uintToLua(uint64(x))
	case uint8:
		return lua.LNumber(x), nil
	case uint16:
		return lua.LNumber(x), nil
	case uint32:
		return lua.LNumber(x), nil
	case uint64:
		return uintToLua(x)
	case float32:
		return lua.LNumber(x), nil
	case []byte:
		return lua.LString(x), nil
	case json.Number:
		return jsonNumberToLua(x)
	case []any:
		return c.arrayToLua(L, x, depth)
	case []string:
		return sliceToLua(c, L, x, depth, func(s string) (lua.LValue, error) { return lua.LString(s), nil })
	case []int64:
		return sliceToLua(c, L, x, depth, intToLua)
	case []int:
		return sliceToLua(c, L, x, depth, func(n int) (lua.LValue, error) { return intToLua(int64(n)) })
	case []float64:
		return sliceToLua(c, L, x, depth, func(f float64) (lua.LValue, error) { return lua.LNumber(f), nil })
	case []bool:
		return sliceToLua(c, L, x, depth, func(b bool) (lua.LValue, error) { return lua.LBool(b), nil })
	case map[string]any:
		return c.mapToLua(L, x, depth)
	case map[string]string:
		return c.stringMapToLua(L, x, depth)
	case map[any]any:
		return c.anyMapToLua(L, x, depth)
	}
	return nil, newValueError(errType, "cannot convert Go type %T to Lua", v)
}

// arrayToLua converts a []any to a table marked as an array.
func (c *converter) arrayToLua(L *lua.LState, x []any, depth int) (lua.LValue, error) {
	if err := c.enter(depth); err != nil {
		return nil, err
	}
	t := L.CreateTable(len(x), 0)
	for i, e := range x {
		lv, err := c.goToLua(L, e, depth+1)
		if err != nil {
			return nil, at(err, i+1)
		}
		t.RawSetInt(i+1, lv)
	}
	t.Metatable = c.arrayMT
	return t, nil
}

// mapToLua converts a map[string]any to a table marked as a map.
func (c *converter) mapToLua(L *lua.LState, x map[string]any, depth int) (lua.LValue, error) {
	if err := c.enter(depth); err != nil {
		return nil, err
	}
	t := L.CreateTable(0, len(x))
	for k, e := range x {
		lv, err := c.goToLua(L, e, depth+1)
		if err != nil {
			return nil, at(err, k)
		}
		t.RawSetString(k, lv)
	}
	t.Metatable = c.mapMT
	return t, nil
}

// stringMapToLua converts a map[string]string to a table marked as a map.
func (c *converter) stringMapToLua(L *lua.LState, x map[string]string, depth int) (lua.LValue, error) {
	if err := c.enter(depth); err != nil {
		return nil, err
	}
	t := L.CreateTable(0, len(x))
	for k, e := range x {
		t.RawSetString(k, lua.LString(e))
	}
	t.Metatable = c.mapMT
	return t, nil
}

// anyMapToLua converts a map[any]any, whose keys are strings, numbers or
// booleans, to a table marked as a map.
func (c *converter) anyMapToLua(L *lua.LState, x map[any]any, depth int) (lua.LValue, error) {
	if err := c.enter(depth); err != nil {
		return nil, err
	}
	t := L.CreateTable(0, len(x))
	for k, e := range x {
		lk, err := c.keyToLua(L, k)
		if err != nil {
			return nil, at(err, k)
		}
		lv, err := c.goToLua(L, e, depth+1)
		if err != nil {
			return nil, at(err, k)
		}
		t.RawSet(lk, lv)
	}
	t.Metatable = c.mapMT
	return t, nil
}

// luaSize is the size of v in Lua, without the values it holds.
func luaSize(v any) int {
	switch x := v.(type) {
	case nil, bool, lua.LValue:
		return luaSizeNothing
	case string:
		return luaSizeString + len(x)
	case []byte:
		return luaSizeString + len(x)
	case int64, float64, int, int8, int16, int32, uint, uint8, uint16, uint32, uint64, float32, json.Number:
		return luaSizeNumber
	case []any:
		return luaSizeTable + luaSizeElem*len(x)
	case []string:
		return luaSizeTable + (luaSizeElem+luaSizeString)*len(x) + sumLen(x)
	case []int64:
		return luaSizeTable + (luaSizeElem+luaSizeNumber)*len(x)
	case []int:
		return luaSizeTable + (luaSizeElem+luaSizeNumber)*len(x)
	case []float64:
		return luaSizeTable + (luaSizeElem+luaSizeNumber)*len(x)
	case []bool:
		return luaSizeTable + luaSizeElem*len(x)
	case map[string]any:
		return luaSizeTable + luaSizeMap + luaSizeKey*len(x)
	case map[string]string:
		n := luaSizeTable + luaSizeMap + (luaSizeKey+luaSizeString)*len(x)
		for _, s := range x {
			n += len(s)
		}
		return n
	case map[any]any:
		return luaSizeTable + luaSizeMap + luaSizeKey*len(x)
	}
	return luaSizeNothing
}

func sumLen(s []string) int {
	n := 0
	for _, e := range s {
		n += len(e)
	}
	return n
}

// enter checks that a table may be made at depth.
func (c *converter) enter(depth int) error {
	if depth >= c.maxDepth {
		return newValueError(errDepth, "value nested too deep (more than %d levels)", c.maxDepth)
	}
	return nil
}

func sliceToLua[E any](c *converter, L *lua.LState, s []E, depth int, conv func(E) (lua.LValue, error)) (lua.LValue, error) {
	if err := c.enter(depth); err != nil {
		return nil, err
	}
	t := L.CreateTable(len(s), 0)
	for i, e := range s {
		lv, err := conv(e)
		if err != nil {
			return nil, at(err, i+1)
		}
		t.RawSetInt(i+1, lv)
	}
	t.Metatable = c.arrayMT
	return t, nil
}

func (c *converter) keyToLua(L *lua.LState, k any) (lua.LValue, error) {
	if k == nil {
		return nil, newValueError(errKey, "cannot use nil as a Lua table key")
	}
	lk, err := c.goToLua(L, k, 1)
	if err != nil {
		return nil, err
	}
	if n, ok := lk.(lua.LNumber); ok && math.IsNaN(float64(n)) {
		return nil, newValueError(errKey, "cannot use NaN as a Lua table key")
	}
	if _, ok := lk.(*lua.LTable); ok {
		return nil, newValueError(errKey, "cannot use Go %T as a Lua table key", k)
	}
	return lk, nil
}

func intToLua(n int64) (lua.LValue, error) {
	if n >= smallIntMin && n <= smallIntMax {
		return smallInts[n-smallIntMin], nil
	}
	if n > maxExactInt || n < -maxExactInt {
		return nil, newValueError(errRange, "integer %d out of range for Lua numbers (±2^53)", n)
	}
	return lua.LNumber(n), nil
}

// smallInts are the Lua numbers of the integers arguments are most often,
// made into lua.LValues once: a number made into one allocates.
var smallInts = func() []lua.LValue {
	vs := make([]lua.LValue, smallIntMax-smallIntMin+1)
	for i := range vs {
		vs[i] = lua.LNumber(smallIntMin + i)
	}
	return vs
}()

const (
	smallIntMin = -128
	smallIntMax = 1023
)

func uintToLua(n uint64) (lua.LValue, error) {
	if n > maxExactInt {
		return nil, newValueError(errRange, "integer %d out of range for Lua numbers (±2^53)", n)
	}
	return lua.LNumber(n), nil
}

func jsonNumberToLua(n json.Number) (lua.LValue, error) {
	if i, err := n.Int64(); err == nil {
		return intToLua(i)
	}
	if !strings.ContainsAny(string(n), ".eE") {
		// An integer too large even for int64.
		return nil, newValueError(errRange, "integer %s out of range for Lua numbers (±2^53)", n)
	}
	f, err := n.Float64()
	if err != nil {
		return nil, newValueError(errRange, "number %s out of range", n)
	}
	return lua.LNumber(f), nil
}
