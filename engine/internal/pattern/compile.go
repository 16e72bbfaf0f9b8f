package pattern

import "strings"

// Limits of a pattern, Lua's.
const (
	// MaxCaptures is how many captures a pattern may have (LUA_MAXCAPTURES).
	MaxCaptures = 32
	// MaxDepth bounds the matcher's recursion (Lua 5.2's MAXCCALLS): each
	// capture and each repeated item on the path of a match is one level.
	MaxDepth = 200
)

// specials are the characters that make a pattern more than plain text
// (Lua's SPECIALS): without any, string.find searches for the text.
const specials = "^$*+?.([%-"

// IsPlain reports whether p has none of the special characters, so that
// finding it is finding the text.
func IsPlain(p string) bool { return !strings.ContainsAny(p, specials) }

// kind is what an item matches.
type kind uint8

const (
	kSingle   kind = iota // one byte of set, repeated as quant says
	kOpen                 // ( : starts capture n
	kPosition             // () : position capture n
	kClose                // ) : ends capture n
	kBackref              // %n : the text of capture n again
	kBalance              // %bxy
	kFrontier             // %f[set]
	kEnd                  // $ at the end of the pattern
)

// set is a set of bytes.
type set [4]uint64

func (s *set) has(c byte) bool { return s[c>>6]&(1<<(c&63)) != 0 }
func (s *set) add(c byte)      { s[c>>6] |= 1 << (c & 63) }

func (s *set) union(o *set) {
	for i := range s {
		s[i] |= o[i]
	}
}

func (s *set) invert() {
	for i := range s {
		s[i] = ^s[i]
	}
}

// single returns the byte of a set of one byte, or -1.
func (s *set) single() int {
	found := -1
	for c := 0; c < 256; c++ {
		if s.has(byte(c)) {
			if found >= 0 {
				return -1
			}
			found = c
		}
	}
	return found
}

// item is one element of a compiled pattern.
type item struct {
	kind  kind
	quant byte // kSingle: 0, '*', '+', '-' or '?'
	n     int  // capture index (0-based) of kOpen, kPosition, kClose, kBackref
	b, e  byte // kBalance's open and close bytes
	set   set  // kSingle's and kFrontier's bytes
}

// Pattern is a compiled Lua pattern. It is immutable and may be used by
// any number of matchers at once.
type Pattern struct {
	items    []item
	anchored bool // ^
	ncap     int
	// first is the set the first byte of a match must be in, when the
	// pattern's first item says so; firstByte is its byte when it has one.
	first     *set
	firstByte int
	// literal is the text every match is, for a pattern of plain bytes.
	literal string
	isLit   bool
}

// Captures is how many captures the pattern has.
func (p *Pattern) Captures() int { return p.ncap }

// Anchored reports whether the pattern starts with ^.
func (p *Pattern) Anchored() bool { return p.anchored }

// Compile compiles a Lua pattern; a leading ^ anchors it.
func Compile(p string) (*Pattern, error) { return compile(p, true) }

// CompileUnanchored compiles a Lua pattern in which a leading ^ is a plain
// character, as string.gmatch reads its pattern.
func CompileUnanchored(p string) (*Pattern, error) { return compile(p, false) }

func compile(p string, anchor bool) (*Pattern, error) {
	c := &compiler{pat: p}
	pt := &Pattern{firstByte: -1}
	i := 0
	if anchor && strings.HasPrefix(p, "^") {
		pt.anchored = true
		i = 1
	}
	if err := c.run(i); err != nil {
		return nil, err
	}
	pt.items = c.items
	pt.ncap = c.level
	if len(pt.items) > 0 && pt.items[0].kind == kSingle && (pt.items[0].quant == 0 || pt.items[0].quant == '+') {
		pt.first = &pt.items[0].set
		pt.firstByte = pt.first.single()
	}
	pt.isLit = true
	var lit strings.Builder
	for k := range pt.items {
		it := &pt.items[k]
		b := -1
		if it.kind == kSingle && it.quant == 0 {
			b = it.set.single()
		}
		if b < 0 {
			pt.isLit = false
			break
		}
		lit.WriteByte(byte(b))
	}
	if pt.isLit {
		pt.literal = lit.String()
	}
	return pt, nil
}

// compiler turns a pattern's text into items, checking it as it goes.
type compiler struct {
	pat    string
	items  []item
	level  int    // captures started so far
	open   []int  // captures started and not yet closed, innermost last
	closed uint64 // bit n: capture n is closed (or a position)
}

func (c *compiler) run(i int) error {
	p := c.pat
	for i < len(p) {
		switch ch := p[i]; {
		case ch == '(':
			if c.level >= MaxCaptures {
				return malformed("too many captures")
			}
			if i+1 < len(p) && p[i+1] == ')' {
				c.closed |= 1 << c.level
				c.items = append(c.items, item{kind: kPosition, n: c.level})
				c.level++
				i += 2
				continue
			}
			c.open = append(c.open, c.level)
			c.items = append(c.items, item{kind: kOpen, n: c.level})
			c.level++
			i++
		case ch == ')':
			if len(c.open) == 0 {
				return malformed("invalid pattern capture")
			}
			n := c.open[len(c.open)-1]
			c.open = c.open[:len(c.open)-1]
			c.closed |= 1 << n
			c.items = append(c.items, item{kind: kClose, n: n})
			i++
		case ch == '$' && i+1 == len(p):
			c.items = append(c.items, item{kind: kEnd})
			i++
		case ch == '%' && i+1 < len(p) && p[i+1] == 'b':
			if i+3 >= len(p) {
				return malformed("malformed pattern (missing arguments to '%b')")
			}
			c.items = append(c.items, item{kind: kBalance, b: p[i+2], e: p[i+3]})
			i += 4
		case ch == '%' && i+1 < len(p) && p[i+1] == 'f':
			i += 2
			if i >= len(p) || p[i] != '[' {
				return malformed("missing '[' after '%f' in pattern")
			}
			end, err := c.classEnd(i)
			if err != nil {
				return err
			}
			it := item{kind: kFrontier}
			c.classSet(i, end, &it.set)
			c.items = append(c.items, it)
			i = end
		case ch == '%' && i+1 < len(p) && p[i+1] >= '0' && p[i+1] <= '9':
			n := int(p[i+1]) - '1'
			if n < 0 || n >= c.level || c.closed&(1<<n) == 0 {
				return malformed("invalid capture index")
			}
			c.items = append(c.items, item{kind: kBackref, n: n})
			i += 2
		default:
			end, err := c.classEnd(i)
			if err != nil {
				return err
			}
			it := item{kind: kSingle}
			c.classSet(i, end, &it.set)
			if end < len(p) && strings.IndexByte("*+-?", p[end]) >= 0 {
				it.quant = p[end]
				end++
			}
			c.items = append(c.items, it)
			i = end
		}
	}
	if len(c.open) > 0 {
		return malformed("unfinished capture")
	}
	return nil
}

// classEnd returns the end of the single-byte class starting at i: a byte,
// %x, or a set [...].
func (c *compiler) classEnd(i int) (int, error) {
	p := c.pat
	switch p[i] {
	case '%':
		if i+1 >= len(p) {
			return 0, malformed("malformed pattern (ends with '%')")
		}
		return i + 2, nil
	case '[':
		q := i + 1
		if q < len(p) && p[q] == '^' {
			q++
		}
		for { // the first byte belongs to the set, even a ]
			if q >= len(p) {
				return 0, malformed("malformed pattern (missing ']')")
			}
			ch := p[q]
			q++
			if ch == '%' && q < len(p) {
				q++
			}
			if q < len(p) && p[q] == ']' {
				return q + 1, nil
			}
		}
	}
	return i + 1, nil
}

// classSet puts the bytes of the class p[i:end] in s.
func (c *compiler) classSet(i, end int, s *set) {
	p := c.pat
	switch p[i] {
	case '.':
		s.invert()
	case '%':
		s.union(classOf(p[i+1]))
	case '[':
		last := end - 1 // the ]
		q := i + 1
		negate := false
		if p[q] == '^' {
			negate = true
			q++
		}
		for ; q < last; q++ {
			switch {
			case p[q] == '%':
				q++
				s.union(classOf(p[q]))
			case q+2 < last && p[q+1] == '-':
				for b := int(p[q]); b <= int(p[q+2]); b++ {
					s.add(byte(b))
				}
				q += 2
			default:
				s.add(p[q])
			}
		}
		if negate {
			s.invert()
		}
	default:
		s.add(p[i])
	}
}

// classOf returns the set of %x: a class, its complement, or x itself.
func classOf(x byte) *set {
	if cl := &classes[x]; *cl != (set{}) {
		return cl
	}
	var s set
	s.add(x)
	return &s
}

// classes holds the set of each class letter, lower and upper case; it is
// filled once and only read.
var classes = func() (t [256]set) {
	in := map[byte]func(c int) bool{
		'a': func(c int) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' },
		'c': func(c int) bool { return c < 0x20 || c == 0x7f },
		'd': func(c int) bool { return '0' <= c && c <= '9' },
		'l': func(c int) bool { return 'a' <= c && c <= 'z' },
		'p': func(c int) bool {
			return 0x21 <= c && c <= 0x2f || 0x3a <= c && c <= 0x40 || 0x5b <= c && c <= 0x60 || 0x7b <= c && c <= 0x7e
		},
		's': func(c int) bool { return c == ' ' || '\t' <= c && c <= '\r' },
		'u': func(c int) bool { return 'A' <= c && c <= 'Z' },
		'w': func(c int) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' },
		'x': func(c int) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' },
		'z': func(c int) bool { return c == 0 },
	}
	for letter, f := range in {
		upper := letter - 'a' + 'A'
		for c := 0; c < 256; c++ {
			if f(c) {
				t[letter].add(byte(c))
			} else {
				t[upper].add(byte(c))
			}
		}
	}
	return t
}()
