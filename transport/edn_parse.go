package transport

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ParseEDN reads the one EDN element data holds, with optional whitespace,
// commas and comments around it. EDN elements become these Go values:
//
//	nil                    nil
//	true, false            bool
//	integers               int64; uint64 above math.MaxInt64
//	floats                 float64, also ##Inf, ##-Inf and ##NaN
//	"strings"              string
//	:keywords              Keyword
//	symbols                Symbol
//	(lists)                List
//	[vectors], #{sets}     []any
//	{maps}                 map[any]any
//	#tag element           Tagged
//
// Maps keep their keys as written: {:a 1} has the key Keyword("a") and
// {"a" 1} the key "a". A key must be comparable in Go, so vectors, lists,
// maps and sets can't be keys; duplicate keys are an error. A #_ element is
// discarded. Characters (\c), metadata and reader conditionals are not
// supported. Nesting is limited to 64 levels.
//
// The error wraps ErrInvalidEDN.
func ParseEDN(data []byte) (any, error) {
	p := ednParser{data: data}
	if err := p.skip(0); err != nil {
		return nil, err
	}
	if p.pos == len(p.data) {
		return nil, p.errorf("no value")
	}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	if err := p.skip(0); err != nil {
		return nil, err
	}
	if p.pos != len(p.data) {
		return nil, p.errorf("trailing data after the value")
	}
	return v, nil
}

type ednParser struct {
	data []byte
	pos  int
}

func (p *ednParser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: at offset %d: %s", ErrInvalidEDN, p.pos, fmt.Sprintf(format, args...))
}

// skip moves past whitespace, commas, comments and #_ discarded elements.
func (p *ednParser) skip(depth int) error {
	for p.pos < len(p.data) {
		switch c := p.data[p.pos]; {
		case c == ' ' || c == ',' || c == '\n' || c == '\t' || c == '\r' || c == '\f':
			p.pos++
		case c == ';':
			for p.pos < len(p.data) && p.data[p.pos] != '\n' {
				p.pos++
			}
		case c == '#' && p.pos+1 < len(p.data) && p.data[p.pos+1] == '_':
			if depth >= ednMaxDepth {
				return p.errorf("nested deeper than %d", ednMaxDepth)
			}
			p.pos += 2
			if err := p.skip(depth + 1); err != nil {
				return err
			}
			if p.pos == len(p.data) {
				return p.errorf("#_ without an element to discard")
			}
			if _, err := p.value(depth + 1); err != nil {
				return err
			}
		default:
			return nil
		}
	}
	return nil
}

// value reads one element; the caller has skipped whitespace and checked
// that input remains.
func (p *ednParser) value(depth int) (any, error) {
	if depth >= ednMaxDepth {
		return nil, p.errorf("nested deeper than %d", ednMaxDepth)
	}
	switch c := p.data[p.pos]; c {
	case '(':
		p.pos++
		elems, err := p.seq(')', depth)
		return List(elems), err
	case '[':
		p.pos++
		return p.seq(']', depth)
	case '{':
		p.pos++
		return p.mapBody(depth)
	case '"':
		return p.str()
	case '#':
		return p.dispatch(depth)
	case '\\':
		return nil, p.errorf("characters are not supported")
	case ')', ']', '}':
		return nil, p.errorf("unexpected %q", c)
	}
	return p.token()
}

// seq reads elements up to and including close.
func (p *ednParser) seq(close byte, depth int) ([]any, error) {
	elems := []any{}
	for {
		if err := p.skip(depth + 1); err != nil {
			return nil, err
		}
		if p.pos == len(p.data) {
			return nil, p.errorf("missing %q", close)
		}
		if p.data[p.pos] == close {
			p.pos++
			return elems, nil
		}
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		elems = append(elems, v)
	}
}

func (p *ednParser) mapBody(depth int) (any, error) {
	start := p.pos - 1
	elems, err := p.seq('}', depth)
	if err != nil {
		return nil, err
	}
	if len(elems)%2 != 0 {
		p.pos = start
		return nil, p.errorf("map with an odd number of elements")
	}
	m := make(map[any]any, len(elems)/2)
	for i := 0; i < len(elems); i += 2 {
		k := elems[i]
		if !ednComparable(k) {
			p.pos = start
			return nil, p.errorf("map key of type %T", k)
		}
		if _, dup := m[k]; dup {
			p.pos = start
			return nil, p.errorf("duplicate map key %v", k)
		}
		m[k] = elems[i+1]
	}
	return m, nil
}

// ednComparable reports whether v, a value ParseEDN made, can be a Go map
// key.
func ednComparable(v any) bool {
	switch v := v.(type) {
	case []any, List, map[any]any:
		return false
	case Tagged:
		return ednComparable(v.Value)
	}
	return true
}

// dispatch reads an element starting with '#': a set, a symbolic value or a
// tagged element. #_ was handled by skip.
func (p *ednParser) dispatch(depth int) (any, error) {
	if p.pos+1 == len(p.data) {
		return nil, p.errorf("lone '#'")
	}
	switch p.data[p.pos+1] {
	case '{':
		p.pos += 2
		return p.seq('}', depth)
	case '#':
		p.pos += 2
		tok := p.tokenText()
		switch tok {
		case "Inf":
			return math.Inf(1), nil
		case "-Inf":
			return math.Inf(-1), nil
		case "NaN":
			return math.NaN(), nil
		}
		return nil, p.errorf("unknown symbolic value ##%s", tok)
	case '_':
		return nil, p.errorf("#_ without an element to discard")
	}
	p.pos++
	start := p.pos
	tag := p.tokenText()
	if !validEDNTag(tag) {
		p.pos = start
		return nil, p.errorf("invalid tag %q", tag)
	}
	if err := p.skip(depth + 1); err != nil {
		return nil, err
	}
	if p.pos == len(p.data) {
		return nil, p.errorf("tag #%s without an element", tag)
	}
	v, err := p.value(depth + 1)
	if err != nil {
		return nil, err
	}
	return Tagged{Tag: Symbol(tag), Value: v}, nil
}

// tokenText reads up to the next delimiter.
func (p *ednParser) tokenText() string {
	start := p.pos
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', ',', '\n', '\t', '\r', '\f', '(', ')', '[', ']', '{', '}', '"', ';', '\\':
			return string(p.data[start:p.pos])
		}
		p.pos++
	}
	return string(p.data[start:p.pos])
}

// token reads a number, keyword, symbol, nil, true or false.
func (p *ednParser) token() (any, error) {
	start := p.pos
	tok := p.tokenText()
	if !utf8.ValidString(tok) {
		p.pos = start
		return nil, p.errorf("invalid UTF-8")
	}
	if tok == "" {
		return nil, p.errorf("unexpected %q", p.data[p.pos])
	}
	c := tok[0]
	if c >= '0' && c <= '9' || (c == '+' || c == '-') && len(tok) > 1 && tok[1] >= '0' && tok[1] <= '9' {
		v, err := parseEDNNumber(tok)
		if err != nil {
			p.pos = start
			return nil, p.errorf("%v", err)
		}
		return v, nil
	}
	switch tok {
	case "nil":
		return nil, nil
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	if c == ':' {
		if !validEDNName(tok[1:]) {
			p.pos = start
			return nil, p.errorf("invalid keyword %q", tok)
		}
		return Keyword(tok[1:]), nil
	}
	if !validEDNName(tok) {
		p.pos = start
		return nil, p.errorf("invalid symbol %q", tok)
	}
	return Symbol(tok), nil
}

// parseEDNNumber reads an integer (int64, or uint64 above math.MaxInt64,
// with an optional N suffix) or a float (with an optional M suffix).
func parseEDNNumber(tok string) (any, error) {
	i := 0
	if tok[0] == '+' || tok[0] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(tok) && tok[i] >= '0' && tok[i] <= '9' {
			i++
			n++
		}
		return n
	}
	intStart := i
	if n := digits(); n > 1 && tok[intStart] == '0' {
		return nil, fmt.Errorf("number %q has a leading zero", tok)
	}
	isFloat := false
	if i < len(tok) && tok[i] == '.' {
		i++
		digits()
		isFloat = true
	}
	if i < len(tok) && (tok[i] == 'e' || tok[i] == 'E') {
		i++
		if i < len(tok) && (tok[i] == '+' || tok[i] == '-') {
			i++
		}
		if digits() == 0 {
			return nil, fmt.Errorf("number %q has an empty exponent", tok)
		}
		isFloat = true
	}
	text := tok[:i]
	switch rest := tok[i:]; {
	case rest == "M":
		isFloat = true
	case rest == "N" && !isFloat:
	case rest != "":
		return nil, fmt.Errorf("invalid number %q", tok)
	}
	if isFloat {
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, fmt.Errorf("invalid number %q", tok)
		}
		return f, nil
	}
	if n, err := strconv.ParseInt(text, 10, 64); err == nil {
		return n, nil
	}
	if n, err := strconv.ParseUint(strings.TrimPrefix(text, "+"), 10, 64); err == nil {
		return n, nil
	}
	return nil, fmt.Errorf("integer %q out of range", tok)
}

// str reads a string; p.pos is at its opening quote.
func (p *ednParser) str() (string, error) {
	start := p.pos
	p.pos++
	// A string without escapes is its text; one with escapes is decoded
	// into a buffer of the text's size, which escapes only shorten.
	end := p.pos
	for end < len(p.data) && p.data[end] != '"' && p.data[end] != '\\' {
		end++
	}
	if end < len(p.data) && p.data[end] == '"' {
		text := p.data[p.pos:end]
		if !utf8.Valid(text) {
			p.pos = start
			return "", p.errorf("invalid UTF-8 in string")
		}
		p.pos = end + 1
		return string(text), nil
	}
	b := make([]byte, 0, ednStringSize(p.data, start))
	for {
		i := p.pos
		for i < len(p.data) && p.data[i] != '"' && p.data[i] != '\\' {
			i++
		}
		b = append(b, p.data[p.pos:i]...)
		p.pos = i
		if p.pos == len(p.data) {
			p.pos = start
			return "", p.errorf("unterminated string")
		}
		if p.data[p.pos] == '"' {
			p.pos++
			break
		}
		// A backslash.
		if p.pos+1 == len(p.data) {
			p.pos = start
			return "", p.errorf("unterminated string")
		}
		esc := p.data[p.pos+1]
		p.pos += 2
		switch esc {
		case '"', '\\':
			b = append(b, esc)
		case 'n':
			b = append(b, '\n')
		case 't':
			b = append(b, '\t')
		case 'r':
			b = append(b, '\r')
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", p.errorf(`invalid \u escape`)
			}
			if utf16IsHighSurrogate(r) && p.pos+1 < len(p.data) && p.data[p.pos] == '\\' && p.data[p.pos+1] == 'u' {
				save := p.pos
				p.pos += 2
				if lo, ok := p.hex4(); ok && utf16IsLowSurrogate(lo) {
					r = (r-0xd800)<<10 + (lo - 0xdc00) + 0x10000
				} else {
					p.pos = save
				}
			}
			b = utf8.AppendRune(b, r) // a lone surrogate becomes U+FFFD
		default:
			p.pos -= 2
			return "", p.errorf("invalid escape \\%c", esc)
		}
	}
	if !utf8.Valid(b) {
		p.pos = start
		return "", p.errorf("invalid UTF-8 in string")
	}
	return string(b), nil
}

// ednStringSize is the length of the text of the string whose opening
// quote is at start, up to its closing quote or the end of data.
func ednStringSize(data []byte, start int) int {
	i := start + 1
	for i < len(data) && data[i] != '"' {
		if data[i] == '\\' {
			i++
		}
		i++
	}
	return min(i, len(data)) - start - 1
}

// hex4 reads the four hex digits of a \u escape.
func (p *ednParser) hex4() (rune, bool) {
	if p.pos+4 > len(p.data) {
		return 0, false
	}
	r, ok := jsonHex4(p.data[p.pos:])
	if ok {
		p.pos += 4
	}
	return r, ok
}

func utf16IsHighSurrogate(r rune) bool { return 0xd800 <= r && r < 0xdc00 }
func utf16IsLowSurrogate(r rune) bool  { return 0xdc00 <= r && r < 0xe000 }
