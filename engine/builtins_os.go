package engine

import (
	"strconv"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// osDate is os.date with its format bounded: a format longer than
// maxDateFormat bytes is refused before anything is built.
func osDate(L *lua.LState, date lua.LGFunction) int {
	if L.GetTop() >= 1 {
		if f := L.CheckString(1); len(f) > maxDateFormat {
			L.RaiseError("date format too long (%d bytes, at most %d)", len(f), maxDateFormat)
		}
	}
	n := date(L)
	if s, ok := L.Get(-1).(lua.LString); ok && len(s) > maxDateResult {
		L.RaiseError("date result too long (at most %d bytes)", maxDateResult)
	}
	return n
}

// osTime is os.time([t]): now, or the local time of the fields of t
// (year, month and day required; hour 12, min and sec 0 by default;
// numbers out of a field's range are normalised, as in C's mktime). A
// field that is not an integer within ±2^31 is refused.
func osTime(L *lua.LState) int {
	if L.Get(1) == lua.LNil {
		L.Push(lua.LNumber(time.Now().Unix()))
		return 1
	}
	t := L.CheckTable(1)
	field := func(name string, def int, required bool) int {
		var f float64
		switch x := t.RawGetString(name).(type) {
		case lua.LNumber:
			f = float64(x)
		case lua.LString:
			n, err := strconv.ParseFloat(strings.TrimSpace(string(x)), 64)
			if err != nil {
				L.RaiseError("field '%s' is not a number", name)
			}
			f = n
		default:
			if required {
				L.RaiseError("field '%s' missing in date table", name)
			}
			return def
		}
		if !(f > -1<<31 && f < 1<<31) { // NaN too
			L.RaiseError("field '%s' is out-of-bound", name)
		}
		return int(f)
	}
	sec := field("sec", 0, false)
	minute := field("min", 0, false)
	hour := field("hour", 12, false)
	day := field("day", 0, true)
	month := field("month", 0, true)
	year := field("year", 0, true)
	L.Push(lua.LNumber(time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.Local).Unix()))
	return 1
}
