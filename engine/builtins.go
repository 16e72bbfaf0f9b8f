package engine

import (
	"strconv"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/slacker-lua/slacker-lua/engine/internal/pattern"
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

// raise raises err, from the pattern matcher, as a Lua error: a malformed
// pattern with Lua's message, a done context with its error as
// checkContext does.
func raise(L *lua.LState, err error) {
	L.RaiseError("%s", err.Error())
}

// compilePattern compiles a pattern or raises Lua's error.
func compilePattern(L *lua.LState, pat string, anchor bool) *pattern.Pattern {
	compile := pattern.Compile
	if !anchor {
		compile = pattern.CompileUnanchored
	}
	p, err := compile(pat)
	if err != nil {
		raise(L, err)
	}
	return p
}

// pushCaptures pushes the captures of the match m found at start..end: the
// strings, or positions (1-based) for position captures; for a pattern
// without captures the whole match when whole is set. It returns how many
// it pushed.
func pushCaptures(L *lua.LState, m *pattern.Matcher, start, end int, whole bool) int {
	n := m.Captures()
	if n == 0 && whole {
		L.Push(lua.LString(m.Subject()[start:end]))
		return 1
	}
	for i := range n {
		L.Push(captureValue(m, i))
	}
	return n
}

// captureValue is capture i (0-based) of m's last match as Lua sees it.
func captureValue(m *pattern.Matcher, i int) lua.LValue {
	if s, _, pos := m.Capture(i); pos {
		return lua.LNumber(s + 1)
	}
	return lua.LString(m.String(i))
}

// strFind is string.find(s, pattern [, init [, plain]]) with Lua 5.1's
// semantics; the matcher stops at the call's deadline. A plain search (or
// a pattern without special characters) is a substring search.
func strFind(L *lua.LState) int {
	s := L.CheckString(1)
	pat := L.CheckString(2)
	init := pattern.Start(L.OptInt(3, 1), len(s))
	if L.ToBool(4) || pattern.IsPlain(pat) {
		i := strings.Index(s[init:], pat)
		if i < 0 {
			L.Push(lua.LNil)
			return 1
		}
		L.Push(lua.LNumber(init + i + 1))
		L.Push(lua.LNumber(init + i + len(pat)))
		return 2
	}
	m := compilePattern(L, pat, true).Matcher(L.Context(), s)
	start, end, ok, err := m.Find(init)
	if err != nil {
		raise(L, err)
	}
	if !ok {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(lua.LNumber(start + 1))
	L.Push(lua.LNumber(end))
	return 2 + pushCaptures(L, m, start, end, false)
}

// strMatch is string.match(s, pattern [, init]).
func strMatch(L *lua.LState) int {
	s := L.CheckString(1)
	pat := L.CheckString(2)
	init := pattern.Start(L.OptInt(3, 1), len(s))
	m := compilePattern(L, pat, true).Matcher(L.Context(), s)
	start, end, ok, err := m.Find(init)
	if err != nil {
		raise(L, err)
	}
	if !ok {
		L.Push(lua.LNil)
		return 1
	}
	return pushCaptures(L, m, start, end, true)
}

// strGmatch is string.gmatch(s, pattern): an iterator over the matches, in
// which ^ is a plain character, as in Lua 5.1. Each step runs under the
// deadline of the call that takes it.
func strGmatch(L *lua.LState) int {
	s := L.CheckString(1)
	p := compilePattern(L, L.CheckString(2), false)
	m := p.Matcher(nil, s)
	pos := 0
	L.Push(L.NewFunction(func(L *lua.LState) int {
		if pos > len(s) {
			return 0
		}
		m.SetContext(L.Context())
		start, end, ok, err := m.Find(pos)
		if err != nil {
			raise(L, err)
		}
		if !ok {
			pos = len(s) + 1
			return 0
		}
		pos = end
		if end == start { // an empty match: go on after it
			pos++
		}
		return pushCaptures(L, m, start, end, true)
	}))
	return 1
}

// ---- size-capped library functions ----

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

// strGsub is string.gsub(s, pattern, repl [, n]) with Lua 5.1's semantics,
// built in one pass: the result is checked against MaxStringSize as it
// grows; the matcher and the loop over matches stop at the call's
// deadline.
func (v *vm) strGsub(L *lua.LState) int {
	src := L.CheckString(1)
	pat := L.CheckString(2)
	repl := L.Get(3)
	switch repl.(type) {
	case lua.LString, lua.LNumber, *lua.LTable, *lua.LFunction:
	default:
		L.ArgError(3, "string/function/table expected, got "+repl.Type().String())
	}
	maxN := L.OptInt(4, len(src)+1)
	limit := v.ns.cfg.MaxStringSize
	p := compilePattern(L, pat, true)
	m := p.Matcher(L.Context(), src)

	var b strings.Builder
	count, pos, copied := 0, 0, 0
	for count < maxN && pos <= len(src) {
		start, end, ok, err := m.Find(pos)
		if err != nil {
			raise(L, err)
		}
		if !ok {
			break
		}
		count++
		b.WriteString(src[copied:start])
		v.gsubReplace(L, &b, m, start, end, repl)
		copied = end
		if b.Len() > limit {
			L.RaiseError("string too large")
		}
		pos = max(start+1, end)
		if p.Anchored() {
			break
		}
		if count%checkEvery == 0 {
			checkContext(L)
		}
	}
	if b.Len()+len(src)-copied > limit {
		L.RaiseError("string too large")
	}
	b.WriteString(src[copied:])
	L.Push(lua.LString(b.String()))
	L.Push(lua.LNumber(count))
	return 2
}

// gsubReplace writes the replacement of the match m found at start..end.
func (v *vm) gsubReplace(L *lua.LState, b *strings.Builder, m *pattern.Matcher, start, end int, repl lua.LValue) {
	whole := m.Subject()[start:end]
	var value lua.LValue
	switch r := repl.(type) {
	case lua.LString, lua.LNumber:
		s := r.String()
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c != '%' {
				b.WriteByte(c)
				continue
			}
			i++
			if i == len(s) {
				L.RaiseError("%s", "invalid use of '%' in replacement string")
			}
			c = s[i]
			switch {
			case c == '0':
				b.WriteString(whole)
			case c >= '1' && c <= '9':
				b.WriteString(lua.LVAsString(capture(L, m, whole, int(c-'0'))))
			default:
				b.WriteByte(c)
			}
		}
		return
	case *lua.LTable:
		value = L.GetTable(r, capture(L, m, whole, 1))
	case *lua.LFunction:
		L.Push(r)
		n := m.Captures()
		if n == 0 {
			L.Push(lua.LString(whole))
			n = 1
		} else {
			for i := range n {
				L.Push(captureValue(m, i))
			}
		}
		L.Call(n, 1)
		value = L.Get(-1)
		L.Pop(1)
	}
	switch x := value.(type) {
	case *lua.LNilType, lua.LBool:
		if x == lua.LNil || x == lua.LFalse {
			b.WriteString(whole) // keep the match
			return
		}
	case lua.LString, lua.LNumber:
		b.WriteString(x.String())
		return
	}
	L.RaiseError("invalid replacement value (a %s)", value.Type().String())
}

// capture returns capture i (1-based) of m's last match, whole: a string,
// or a number for a position capture; capture 1 of a pattern without
// captures is the whole match.
func capture(L *lua.LState, m *pattern.Matcher, whole string, i int) lua.LValue {
	if i > m.Captures() {
		if i == 1 {
			return lua.LString(whole)
		}
		L.RaiseError("invalid capture index")
	}
	return captureValue(m, i-1)
}

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
