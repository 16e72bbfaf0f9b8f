package engine

import (
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// tableConcat is table.concat(t [, sep [, i [, j]]]), refusing a result
// longer than MaxStringSize before building it and stopping at the call's
// deadline.
func (v *vm) tableConcat(L *lua.LState) int {
	t := L.CheckTable(1)
	sep := L.OptString(2, "")
	i := L.OptInt(3, 1)
	j := L.OptInt(4, t.Len())
	if i > j {
		L.Push(lua.LString(""))
		return 1
	}
	size := 0
	for k := i; k <= j; k++ {
		switch e := t.RawGet(lua.LNumber(k)).(type) {
		case lua.LString:
			size += len(e)
		case lua.LNumber:
			size += len(e.String())
		default:
			L.RaiseError("invalid value (at index %d) in table for 'concat'", k)
		}
		if k < j {
			size += len(sep)
		}
		if size > v.ns.cfg.MaxStringSize {
			L.RaiseError("string too large")
		}
		if (k-i)%checkEvery == checkEvery-1 {
			checkContext(L)
		}
	}
	var b strings.Builder
	b.Grow(size)
	for k := i; k <= j; k++ {
		if k > i {
			b.WriteString(sep)
		}
		b.WriteString(lua.LVAsString(t.RawGet(lua.LNumber(k))))
		if (k-i)%checkEvery == checkEvery-1 {
			checkContext(L)
		}
	}
	L.Push(lua.LString(b.String()))
	return 1
}

// tableSort is table.sort(t [, comp]): Lua 5.1's quicksort of t[1..#t],
// with < or comp as the order. It stops at the call's deadline (checked
// every checkEvery comparisons), and raises "invalid order function for
// sorting" where a comparison that is not an order would take it past the
// ends of the range, as Lua does. The table is written back when the sort
// is done: a comparison that raises an error leaves it as it was.
func tableSort(L *lua.LState) int {
	t := L.CheckTable(1)
	var cmp *lua.LFunction
	if L.Get(2) != lua.LNil {
		cmp = L.CheckFunction(2)
	}
	n := t.Len()
	s := &sorter{L: L, cmp: cmp, a: make([]lua.LValue, n), left: checkEvery}
	for i := range s.a {
		s.a[i] = t.RawGetInt(i + 1)
	}
	s.sort(0, n-1)
	for i, x := range s.a {
		t.RawSetInt(i+1, x)
	}
	return 0
}

type sorter struct {
	L    *lua.LState
	cmp  *lua.LFunction // nil: <
	a    []lua.LValue
	left int // comparisons before the next check of the context
}

func (s *sorter) less(x, y lua.LValue) bool {
	if s.left--; s.left == 0 {
		s.left = checkEvery
		checkContext(s.L)
	}
	if s.cmp == nil {
		return s.L.LessThan(x, y)
	}
	L := s.L
	L.Push(s.cmp)
	L.Push(x)
	L.Push(y)
	L.Call(2, 1)
	r := lua.LVAsBool(L.Get(-1))
	L.Pop(1)
	return r
}

// sort sorts a[lo..hi]: the median of three is the pivot, the smaller part
// is sorted by recursion and the larger by the loop, so the depth stays
// logarithmic.
func (s *sorter) sort(lo, hi int) {
	a := s.a
	for lo < hi {
		if s.less(a[hi], a[lo]) {
			a[lo], a[hi] = a[hi], a[lo]
		}
		if hi-lo == 1 {
			return
		}
		mid := lo + (hi-lo)/2
		if s.less(a[mid], a[lo]) {
			a[mid], a[lo] = a[lo], a[mid]
		} else if s.less(a[hi], a[mid]) {
			a[mid], a[hi] = a[hi], a[mid]
		}
		if hi-lo == 2 {
			return
		}
		pivot := a[mid]
		a[mid], a[hi-1] = a[hi-1], a[mid]
		i, j := lo, hi-1
		for {
			for i++; s.less(a[i], pivot); i++ {
				if i >= hi {
					s.L.RaiseError("invalid order function for sorting")
				}
			}
			for j--; s.less(pivot, a[j]); j-- {
				if j <= lo {
					s.L.RaiseError("invalid order function for sorting")
				}
			}
			if j < i {
				break
			}
			a[i], a[j] = a[j], a[i]
		}
		a[hi-1], a[i] = a[i], a[hi-1]
		if i-lo < hi-i {
			s.sort(lo, i-1)
			lo = i + 1
		} else {
			s.sort(i+1, hi)
			hi = i - 1
		}
	}
}
