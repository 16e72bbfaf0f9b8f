package pattern

import (
	"context"
	"strings"
)

// CheckEvery is how many steps a matcher takes between two checks of its
// context. A step costs a few nanoseconds, so a matcher notices a done
// context well within a millisecond.
const CheckEvery = 4096

// Capture lengths that are not lengths.
const (
	capOpen     = -1 // started, not closed
	capPosition = -2 // a position capture
)

type capture struct {
	start, len int
}

// Matcher matches one compiled pattern against one subject. It is not safe
// for concurrent use; make one per call.
type Matcher struct {
	p     *Pattern
	ctx   context.Context
	src   string
	steps int // until the next check of ctx
	depth int
	level int
	caps  [MaxCaptures]capture
	start int // of the last match
	end   int
}

// Matcher returns a matcher of p against src that stops with ctx's error
// once ctx is done; a nil ctx is never done.
func (p *Pattern) Matcher(ctx context.Context, src string) *Matcher {
	return &Matcher{p: p, ctx: ctx, src: src, steps: CheckEvery}
}

// abort carries an error out of the recursion to the exported method
// that started it.
type abort struct{ err error }

// catch turns an abort into *err; other panics go on.
func (m *Matcher) catch(err *error) {
	if r := recover(); r != nil {
		a, ok := r.(abort)
		if !ok {
			panic(r)
		}
		*err = a.err
	}
}

// tick counts n steps, checking the context when it is time.
func (m *Matcher) tick(n int) {
	m.steps -= n
	if m.steps > 0 {
		return
	}
	m.steps = CheckEvery
	if m.ctx != nil {
		if err := m.ctx.Err(); err != nil {
			panic(abort{err})
		}
	}
}

// Find returns the first match that starts at or after init (a byte
// offset, 0 <= init <= len(src)); an anchored pattern is tried at init only.
// After a match, Capture and String read its captures.
func (m *Matcher) Find(init int) (start, end int, ok bool, err error) {
	defer m.catch(&err)
	p, src := m.p, m.src
	if p.isLit {
		if p.anchored {
			ok = strings.HasPrefix(src[init:], p.literal)
			return m.found(init, init+len(p.literal), ok)
		}
		i := strings.Index(src[init:], p.literal)
		return m.found(init+i, init+i+len(p.literal), i >= 0)
	}
	for s := init; s <= len(src); s++ {
		if p.first != nil && !p.anchored {
			s = m.skip(s)
			if s < 0 {
				break
			}
		}
		m.level = 0
		if e := m.match(s, 0); e >= 0 {
			return m.found(s, e, true)
		}
		if p.anchored {
			break
		}
	}
	return m.found(0, 0, false)
}

// MatchAt matches the pattern at s only, ignoring the anchor: it is the
// step of string.gsub and string.gmatch, which move along the subject
// themselves.
func (m *Matcher) MatchAt(s int) (end int, ok bool, err error) {
	defer m.catch(&err)
	if m.p.isLit {
		ok = strings.HasPrefix(m.src[s:], m.p.literal)
		_, end, ok, _ = m.found(s, s+len(m.p.literal), ok)
		return end, ok, nil
	}
	m.level = 0
	e := m.match(s, 0)
	_, end, ok, _ = m.found(s, e, e >= 0)
	return end, ok, nil
}

func (m *Matcher) found(start, end int, ok bool) (int, int, bool, error) {
	if !ok {
		return -1, -1, false, nil
	}
	m.start, m.end = start, end
	return start, end, true, nil
}

// skip returns the first position at or after s where the pattern's first
// byte can match, or -1.
func (m *Matcher) skip(s int) int {
	src := m.src
	if b := m.p.firstByte; b >= 0 {
		i := strings.IndexByte(src[s:], byte(b))
		if i < 0 {
			m.tick(len(src) - s)
			return -1
		}
		m.tick(i)
		return s + i
	}
	first := m.p.first
	for k := s; k < len(src); k++ {
		if first.has(src[k]) {
			m.tick(k - s)
			return k
		}
	}
	m.tick(len(src) - s)
	return -1
}

// Captures is how many captures the pattern has.
func (m *Matcher) Captures() int { return m.p.ncap }

// Capture returns capture i (0-based) of the last match: its bounds, or for
// a position capture its position (0-based) twice and position true.
func (m *Matcher) Capture(i int) (start, end int, position bool) {
	c := m.caps[i]
	if c.len == capPosition {
		return c.start, c.start, true
	}
	return c.start, c.start + c.len, false
}

// String returns the text of capture i (0-based) of the last match.
func (m *Matcher) String(i int) string {
	s, e, _ := m.Capture(i)
	return m.src[s:e]
}

// match matches the items from i on at s and returns where the match
// ends, or -1. It is Lua's do_match over compiled items.
func (m *Matcher) match(s, i int) int {
	if m.depth >= MaxDepth {
		panic(abort{errTooComplex})
	}
	m.depth++
	e := m.matchItems(s, i)
	m.depth--
	return e
}

// matchItems is match without the depth count: it goes through the items
// from i on, and recurses into match where an item (a capture, or a
// repetition that may give back) needs the rest to match first.
func (m *Matcher) matchItems(s, i int) int {
	items, src := m.p.items, m.src
	for {
		m.tick(1)
		if i == len(items) {
			return s
		}
		it := &items[i]
		switch it.kind {
		case kSingle:
			ok := s < len(src) && it.set.has(src[s])
			switch it.quant {
			case 0:
				if !ok {
					return -1
				}
				s++
				i++
			case '?':
				if ok {
					if e := m.match(s+1, i+1); e >= 0 {
						return e
					}
				}
				i++
			case '*':
				return m.maxExpand(s, i)
			case '+':
				if !ok {
					return -1
				}
				return m.maxExpand(s+1, i)
			case '-':
				return m.minExpand(s, i)
			}
		case kOpen, kPosition:
			return m.open(s, i)
		case kClose:
			return m.close(s, i)
		case kBackref:
			c := m.caps[it.n]
			if c.len == capPosition || len(src)-s < c.len {
				return -1
			}
			m.tick(c.len)
			if src[s:s+c.len] != src[c.start:c.start+c.len] {
				return -1
			}
			s += c.len
			i++
		case kBalance:
			if s = m.balance(s, it.b, it.e); s < 0 {
				return -1
			}
			i++
		case kFrontier:
			if !m.frontier(s, &it.set) {
				return -1
			}
			i++
		case kEnd:
			if s != len(src) {
				return -1
			}
			return s
		}
	}
}

// open matches item i, the opening of a capture (or a position capture),
// at s, then the rest.
func (m *Matcher) open(s, i int) int {
	it := &m.p.items[i]
	l := it.n
	m.caps[l] = capture{start: s, len: capOpen}
	if it.kind == kPosition {
		m.caps[l].len = capPosition
	}
	m.level = l + 1
	e := m.match(s, i+1)
	if e < 0 {
		m.level = l
	}
	return e
}

// close matches item i, the closing of a capture, at s, then the rest.
func (m *Matcher) close(s, i int) int {
	l := m.p.items[i].n
	m.caps[l].len = s - m.caps[l].start
	e := m.match(s, i+1)
	if e < 0 {
		m.caps[l].len = capOpen
	}
	return e
}

// frontier reports whether %f[in] matches at s: the byte before s is not
// in the set and the byte at s is.
func (m *Matcher) frontier(s int, in *set) bool {
	var prev, cur byte // NUL before the subject and after it
	if s > 0 {
		prev = m.src[s-1]
	}
	if s < len(m.src) {
		cur = m.src[s]
	}
	return !in.has(prev) && in.has(cur)
}

// maxExpand matches item i (repeated with * or +, its first byte already
// taken for +) as many times as it can at s, then gives back one byte at a
// time until the rest matches.
func (m *Matcher) maxExpand(s, i int) int {
	src, set := m.src, &m.p.items[i].set
	n := 0
	for s+n < len(src) && set.has(src[s+n]) {
		n++
	}
	m.tick(n)
	for ; n >= 0; n-- {
		if e := m.match(s+n, i+1); e >= 0 {
			return e
		}
	}
	return -1
}

// minExpand matches item i (repeated with -) as few times as it can at s.
func (m *Matcher) minExpand(s, i int) int {
	src, set := m.src, &m.p.items[i].set
	for {
		if e := m.match(s, i+1); e >= 0 {
			return e
		}
		if s >= len(src) || !set.has(src[s]) {
			return -1
		}
		s++
	}
}

// balance matches %bxy at s: x, then text in which x and y balance, then
// y. It returns the end, or -1.
func (m *Matcher) balance(s int, x, y byte) int {
	src := m.src
	if s >= len(src) || src[s] != x {
		return -1
	}
	depth := 1
	for k := s + 1; k < len(src); k++ {
		switch src[k] {
		case y:
			if depth--; depth == 0 {
				m.tick(k - s)
				return k + 1
			}
		case x:
			depth++
		}
	}
	m.tick(len(src) - s)
	return -1
}

// Start converts the init argument of string.find and string.match (1-based;
// negative counts from the end) to a byte offset in 0..n for a subject of n
// bytes, as Lua 5.1 does: before the start is the start, past the end is
// the end.
func Start(init, n int) int {
	if init < 0 {
		init += n + 1
	}
	return min(max(init-1, 0), n)
}

// Subject is the string the matcher matches.
func (m *Matcher) Subject() string { return m.src }

// SetContext makes the matcher stop when ctx is done, from its next call
// on: an iterator's steps may run under different calls' deadlines.
func (m *Matcher) SetContext(ctx context.Context) { m.ctx = ctx }
