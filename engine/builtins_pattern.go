package engine

import (
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/slacker-lua/slacker-lua/engine/internal/pattern"
)

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

// raise raises err, from the pattern matcher, as a Lua error: a malformed
// pattern with Lua's message, a done context with its error as
// checkContext does.
func raise(L *lua.LState, err error) {
	L.RaiseError("%s", err.Error())
}
