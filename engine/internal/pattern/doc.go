// Package pattern matches Lua 5.1 patterns, stopping when a context is done.
//
// The standard library's string.find, string.match, string.gmatch and
// string.gsub are built on it: unlike the matchers of Lua and gopher-lua,
// it checks its context every [CheckEvery] steps (a step is one pattern
// item tried at one position, or one byte scanned), so a pattern whose
// cost grows as a power of its input (string.find(("a"):rep(2000),
// "(.-)(.-)(.-)b") is n^4) stops at the call's deadline with the
// context's error. Its recursion is bounded by [MaxDepth], as in Lua 5.2
// ("pattern too complex"), so no pattern can exhaust the Go stack.
//
// The semantics are Lua 5.1's: the classes %a %c %d %l %p %s %u %w %x and
// %z (C locale) and their upper-case complements, any other escaped
// character standing for itself; sets [...] with ranges, classes and ^;
// the single-character repetitions * + - ?; captures, position captures
// (), back-references %1-%9, %bxy and the frontier %f[set]; ^ anchoring
// at the pattern's start and $ at its end. At most [MaxCaptures] captures.
//
// Two things differ from Lua 5.1's C code, both as in Lua 5.2 and
// gopher-lua: a NUL byte in a pattern is an ordinary character, and
// malformed patterns are refused when they are compiled, before anything is
// matched, with Lua's messages ("malformed pattern (ends with '%')",
// "malformed pattern (missing ']')", "missing '[' after '%f' in pattern",
// "malformed pattern (missing arguments to '%b')", "invalid capture index",
// "invalid pattern capture", "unfinished capture", "too many captures").
// Where gopher-lua's matcher departs from Lua 5.1 this package follows
// Lua: %f is the frontier, a back-reference to a position capture never
// matches, and a repeated item does not recurse once per byte, so long
// subjects don't hit a depth limit.
//
//	p, err := pattern.Compile("(%w+)=(%w+)")
//	if err != nil { ... } // a *pattern.Error with Lua's message
//	m := p.Matcher(ctx, "key=value")
//	start, end, ok, err := m.Find(0) // 0, 9, true, nil
//	k, v := m.String(1), m.String(2) // "key", "value"
package pattern
