package engine

import (
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// Bounds of the library functions whose cost a caller controls.
const (
	// checkEvery is how many elements table.concat and string.gsub's
	// matches, and how many comparisons table.sort, take between two
	// checks of the call's context.
	checkEvery = 1024
	// maxDateFormat is the longest format os.date takes; no directive
	// expands to more than 32 bytes, so its result stays under
	// maxDateResult.
	maxDateFormat = 256
	maxDateResult = 4096
)

// openBuiltins replaces the library functions of g whose cost a caller
// controls with versions bounded by Config.MaxStringSize and by the
// call's deadline (see the package documentation).
func (v *vm) openBuiltins(g *lua.LTable) {
	L := v.L
	set := func(t *lua.LTable, name string, f lua.LGFunction) { t.RawSetString(name, L.NewFunction(f)) }

	str := g.RawGetString(lua.StringLibName).(*lua.LTable) // also strings' __index
	format := str.RawGetString("format").(*lua.LFunction).GFunction
	set(str, "format", func(L *lua.LState) int { return v.strFormat(L, format) })
	set(str, "rep", v.strRep)
	set(str, "find", strFind)
	set(str, "match", strMatch)
	set(str, "gmatch", strGmatch)
	set(str, "gfind", strGmatch)
	set(str, "gsub", v.strGsub)
	for _, name := range []string{"upper", "lower", "reverse"} {
		f := str.RawGetString(name).(*lua.LFunction).GFunction
		set(str, name, func(L *lua.LState) int {
			if len(L.CheckString(1)) > v.ns.cfg.MaxStringSize {
				L.RaiseError("string too large")
			}
			return f(L)
		})
	}

	tab := g.RawGetString(lua.TabLibName).(*lua.LTable)
	set(tab, "concat", v.tableConcat)
	set(tab, "sort", tableSort)

	if osLib, ok := g.RawGetString(lua.OsLibName).(*lua.LTable); ok {
		date := osLib.RawGetString("date").(*lua.LFunction).GFunction
		set(osLib, "date", func(L *lua.LState) int { return osDate(L, date) })
		set(osLib, "time", osTime)
	}
}

// ---- string functions, size-capped ----

// strRep is string.rep(s, n [, sep]), refusing results longer than
// MaxStringSize before building them.
func (v *vm) strRep(L *lua.LState) int {
	s := L.CheckString(1)
	n := float64(L.CheckNumber(2))
	sep := L.OptString(3, "")
	if !(n >= 1) { // NaN too
		L.Push(lua.LString(""))
		return 1
	}
	size := float64(len(s))*n + float64(len(sep))*(n-1)
	if size > float64(v.ns.cfg.MaxStringSize) {
		L.RaiseError("string too large")
	}
	if size == 0 {
		L.Push(lua.LString(""))
		return 1
	}
	count := int(n)
	if sep == "" {
		L.Push(lua.LString(strings.Repeat(s, count)))
		return 1
	}
	var b strings.Builder
	b.Grow(int(size))
	for i := range count {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(s)
	}
	L.Push(lua.LString(b.String()))
	return 1
}

// strFormat is string.format with Lua 5.1's rules for directives (flags,
// at most two digits of width and of precision, the conversions
// cdiouxXeEfgGqs), refusing a result that could exceed MaxStringSize
// before building it.
func (v *vm) strFormat(L *lua.LState, format lua.LGFunction) int {
	f := L.CheckString(1)
	size := 0
	arg := 1
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			size++
			continue
		}
		i++
		if i < len(f) && f[i] == '%' {
			size++
			continue
		}
		j := i
		for j < len(f) && strings.IndexByte("-+ #0", f[j]) >= 0 {
			j++
		}
		if j-i > 5 {
			L.RaiseError("invalid format (repeated flags)")
		}
		width, w := digits(f, j)
		j += w
		prec, p := 0, 0
		if j < len(f) && f[j] == '.' {
			prec, p = digits(f, j+1)
			j += 1 + p
		}
		if w > 2 || p > 2 {
			L.RaiseError("invalid format (width or precision too long)")
		}
		if j >= len(f) {
			L.RaiseError("%s", "invalid option '%' to 'format'")
		}
		arg++
		verb := f[j]
		switch verb {
		case 'c':
			size += max(width, 4)
		case 'd', 'i', 'o', 'u', 'x', 'X', 'e', 'E', 'f', 'g', 'G':
			// A float64 in %f has at most 309 digits before the point.
			size += max(width, prec+320)
		case 's', 'q':
			n := 64
			if s, ok := L.Get(arg).(lua.LString); ok {
				n = len(s)
			}
			if verb == 'q' {
				n = 4*n + 2 // escapes
			}
			size += max(width, n)
		default:
			L.RaiseError("invalid option '%%%c' to 'format'", verb)
		}
		i = j
		if size > v.ns.cfg.MaxStringSize {
			L.RaiseError("string too large")
		}
	}
	if size > v.ns.cfg.MaxStringSize {
		L.RaiseError("string too large")
	}
	n := format(L)
	if s, ok := L.Get(-1).(lua.LString); ok && len(s) > v.ns.cfg.MaxStringSize {
		L.RaiseError("string too large")
	}
	return n
}

// digits reads the decimal digits of f starting at i: their value (capped)
// and how many there are.
func digits(f string, i int) (value, n int) {
	for i+n < len(f) && f[i+n] >= '0' && f[i+n] <= '9' {
		if value < 1<<20 {
			value = value*10 + int(f[i+n]-'0')
		}
		n++
	}
	return value, n
}
