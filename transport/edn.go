package transport

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// EDN is the text format of slacker's inspect packets: an inspect request's
// argument and an inspect-ack's data. This file holds a small writer and
// reader for the part of EDN those packets use; ParseEDN's comment gives the
// mapping between EDN elements and Go values.

// ErrInvalidEDN is wrapped by the errors of ParseEDN, ParseMetaEDN and
// AppendEDN.
var ErrInvalidEDN = errors.New("transport: invalid EDN")

// Keyword is an EDN keyword, without its leading colon: Keyword("doc") is
// written :doc.
type Keyword string

// Symbol is an EDN symbol, such as a parameter name in an arglist.
type Symbol string

// List is an EDN list, written (a b c).
type List []any

// Tagged is an EDN tagged element, such as #inst "2024-01-01T00:00:00.000-00:00":
// the tag without its '#' and the element that follows it.
type Tagged struct {
	Tag   Symbol
	Value any
}

// ednMaxDepth bounds the nesting of collections and tagged elements, both
// when reading and when writing.
const ednMaxDepth = 64

// AppendEDN appends the EDN text of v to dst. It writes the types ParseEDN
// yields and also the other Go integer and float types, []string (a vector),
// map[Keyword]any and map[string]any. Maps are written with their entries
// sorted by the text of their keys, so the output is deterministic; floats
// always have a '.' or an exponent, so they read back as floats.
//
// The error wraps ErrInvalidEDN for a value of another type, a keyword,
// symbol or tag that is not a valid EDN name, or nesting deeper than 64.
func AppendEDN(dst []byte, v any) ([]byte, error) {
	return appendEDN(dst, v, 0)
}

func appendEDN(dst []byte, v any, depth int) ([]byte, error) {
	if depth > ednMaxDepth {
		return dst, fmt.Errorf("%w: nested deeper than %d", ErrInvalidEDN, ednMaxDepth)
	}
	var err error
	switch v := v.(type) {
	case nil:
		return append(dst, "nil"...), nil
	case bool:
		return strconv.AppendBool(dst, v), nil
	case int:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int8:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int16:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int32:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(dst, v, 10), nil
	case uint:
		return strconv.AppendUint(dst, uint64(v), 10), nil
	case uint8:
		return strconv.AppendUint(dst, uint64(v), 10), nil
	case uint16:
		return strconv.AppendUint(dst, uint64(v), 10), nil
	case uint32:
		return strconv.AppendUint(dst, uint64(v), 10), nil
	case uint64:
		return strconv.AppendUint(dst, v, 10), nil
	case float32:
		return appendEDNFloat(dst, float64(v), 32), nil
	case float64:
		return appendEDNFloat(dst, v, 64), nil
	case string:
		return appendEDNString(dst, v), nil
	case Keyword:
		if !validEDNName(string(v)) {
			return dst, fmt.Errorf("%w: keyword %q", ErrInvalidEDN, string(v))
		}
		return append(append(dst, ':'), v...), nil
	case Symbol:
		if !validEDNSymbol(string(v)) {
			return dst, fmt.Errorf("%w: symbol %q", ErrInvalidEDN, string(v))
		}
		return append(dst, v...), nil
	case Tagged:
		if !validEDNTag(string(v.Tag)) {
			return dst, fmt.Errorf("%w: tag %q", ErrInvalidEDN, string(v.Tag))
		}
		dst = append(append(append(dst, '#'), v.Tag...), ' ')
		return appendEDN(dst, v.Value, depth+1)
	case []any:
		return appendEDNSeq(dst, '[', ']', v, depth)
	case List:
		return appendEDNSeq(dst, '(', ')', v, depth)
	case []string:
		dst = append(dst, '[')
		for i, s := range v {
			if i > 0 {
				dst = append(dst, ' ')
			}
			dst = appendEDNString(dst, s)
		}
		return append(dst, ']'), nil
	case map[Keyword]any:
		return appendEDNMap(dst, v, depth)
	case map[string]any:
		return appendEDNMap(dst, v, depth)
	case map[any]any:
		return appendEDNMap(dst, v, depth)
	default:
		err = fmt.Errorf("%w: cannot write a %T", ErrInvalidEDN, v)
	}
	return dst, err
}

func appendEDNSeq(dst []byte, open, close byte, elems []any, depth int) ([]byte, error) {
	dst = append(dst, open)
	for i, e := range elems {
		if i > 0 {
			dst = append(dst, ' ')
		}
		var err error
		if dst, err = appendEDN(dst, e, depth+1); err != nil {
			return dst, err
		}
	}
	return append(dst, close), nil
}

// appendEDNMap writes m with its entries sorted by the text of their keys.
func appendEDNMap[K comparable](dst []byte, m map[K]any, depth int) ([]byte, error) {
	type entry struct {
		key []byte
		val any
	}
	entries := make([]entry, 0, len(m))
	for k, v := range m {
		key, err := appendEDN(nil, k, depth+1)
		if err != nil {
			return dst, err
		}
		entries = append(entries, entry{key, v})
	}
	slices.SortFunc(entries, func(a, b entry) int { return bytes.Compare(a.key, b.key) })
	dst = append(dst, '{')
	for i, e := range entries {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = append(append(dst, e.key...), ' ')
		var err error
		if dst, err = appendEDN(dst, e.val, depth+1); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

// appendEDNFloat writes f so that it reads back as a float: with a '.' or an
// exponent, or as one of EDN's symbolic values.
func appendEDNFloat(dst []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "##NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "##Inf"...)
	case math.IsInf(f, -1):
		return append(dst, "##-Inf"...)
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'g', -1, bits)
	if bytes.IndexAny(dst[start:], ".e") < 0 {
		dst = append(dst, ".0"...)
	}
	return dst
}

// appendEDNString writes s quoted, escaping '"', '\\', newline, tab and
// carriage return by name, other control characters as \uXXXX and invalid
// UTF-8 as \ufffd.
func appendEDNString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, `\ufffd`...)
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch c {
		case '"':
			dst = append(dst, `\"`...)
		case '\\':
			dst = append(dst, `\\`...)
		case '\n':
			dst = append(dst, `\n`...)
		case '\t':
			dst = append(dst, `\t`...)
		case '\r':
			dst = append(dst, `\r`...)
		default:
			if c < 0x20 || c == 0x7f {
				const hex = "0123456789abcdef"
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			} else {
				dst = append(dst, c)
			}
		}
		i++
	}
	return append(dst, '"')
}

// validEDNSymbol reports whether s can be written as a symbol that reads
// back as itself: not empty, not nil, true or false, and a valid name.
func validEDNSymbol(s string) bool {
	switch s {
	case "nil", "true", "false":
		return false
	}
	return validEDNName(s)
}

// validEDNName reports whether s is a valid symbol or keyword name: "/" alone,
// or an optional "prefix/" and a name, each a valid name part.
func validEDNName(s string) bool {
	if s == "/" {
		return true
	}
	prefix, name, found := strings.Cut(s, "/")
	if !found {
		return validNamePart(s)
	}
	return validNamePart(prefix) && validNamePart(name)
}

// validEDNTag reports whether s is a valid tag: a symbol starting with a
// letter.
func validEDNTag(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsLetter(r) && validEDNSymbol(s)
}

// validNamePart reports whether s is a non-empty run of symbol characters
// that does not read as a number or start like a keyword, tag or character.
func validNamePart(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !isSymbolRune(r) || r == '/' {
			return false
		}
		if i == 0 && (r == ':' || r == '#' || r == '\'' || unicode.IsDigit(r)) {
			return false
		}
	}
	if (s[0] == '+' || s[0] == '-' || s[0] == '.') && len(s) > 1 && s[1] >= '0' && s[1] <= '9' {
		return false
	}
	return true
}

func isSymbolRune(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' ||
			strings.IndexRune(".*+!-_?$%&=<>/:#'", r) >= 0
	}
	return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r))
}

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
	var b []byte
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

// hex4 reads the four hex digits of a \u escape.
func (p *ednParser) hex4() (rune, bool) {
	if p.pos+4 > len(p.data) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(p.data[p.pos:p.pos+4]), 16, 16)
	if err != nil {
		return 0, false
	}
	p.pos += 4
	return rune(n), true
}

func utf16IsHighSurrogate(r rune) bool { return 0xd800 <= r && r < 0xdc00 }
func utf16IsLowSurrogate(r rune) bool  { return 0xdc00 <= r && r < 0xe000 }

// Keys of an inspect meta answer.
const (
	metaName     Keyword = "name"
	metaDoc      Keyword = "doc"
	metaArglists Keyword = "arglists"
)

// variadicParam is the FuncMeta parameter that marks a variadic function,
// and variadicEDN the name written after '&' in its EDN arglist.
const (
	variadicParam        = "..."
	variadicEDN   Symbol = "more"
)

// MetaEDN is the answer to an inspect meta request, shaped as Clojure prints
// a function's metadata: {:name fn :doc "..." :arglists ([a b])}.
//
// :name is the symbol of the function's name without its namespace, as in
// Clojure; :doc is left out when m.Doc is empty; :arglists holds one vector
// of parameter symbols, where a final "..." becomes & more. A name or
// parameter that is not a valid symbol is written as a string.
func MetaEDN(m FuncMeta) map[Keyword]any {
	name := m.Name
	if i := strings.LastIndexByte(name, '/'); i >= 0 && i < len(name)-1 {
		name = name[i+1:]
	}
	args := make([]any, 0, len(m.Params)+1)
	for i, p := range m.Params {
		if p == variadicParam && i == len(m.Params)-1 {
			args = append(args, Symbol("&"), variadicEDN)
			break
		}
		args = append(args, symbolOrString(p))
	}
	out := map[Keyword]any{
		metaName:     symbolOrString(name),
		metaArglists: List{args},
	}
	if m.Doc != "" {
		out[metaDoc] = m.Doc
	}
	return out
}

func symbolOrString(s string) any {
	if s != "&" && validEDNSymbol(s) {
		return Symbol(s)
	}
	return s
}

// ParseMetaEDN reads an inspect meta answer, parsed by ParseEDN, back into a
// FuncMeta: Name is the text of :name (a symbol or a string), Doc the string
// :doc, and Params the first of :arglists, where & and the name after it
// become a final "...". A parameter that is not a symbol (a destructuring
// form) is kept as its EDN text.
//
// nil or an empty map, which servers answer for a function they don't serve,
// gives an error wrapping ErrNotFound; other malformed answers an error
// wrapping ErrInvalidEDN.
func ParseMetaEDN(v any) (FuncMeta, error) {
	var get func(Keyword) (any, bool)
	var size int
	switch m := v.(type) {
	case nil:
	case map[any]any:
		get = func(k Keyword) (any, bool) { x, ok := m[k]; return x, ok }
		size = len(m)
	case map[Keyword]any:
		get = func(k Keyword) (any, bool) { x, ok := m[k]; return x, ok }
		size = len(m)
	default:
		return FuncMeta{}, fmt.Errorf("%w: meta answer is a %T, not a map", ErrInvalidEDN, v)
	}
	if size == 0 {
		return FuncMeta{}, fmt.Errorf("%w: no metadata", ErrNotFound)
	}
	var m FuncMeta
	if x, ok := get(metaName); ok {
		switch x := x.(type) {
		case Symbol:
			m.Name = string(x)
		case string:
			m.Name = x
		default:
			return FuncMeta{}, fmt.Errorf("%w: :name is a %T", ErrInvalidEDN, x)
		}
	}
	if x, ok := get(metaDoc); ok && x != nil {
		doc, ok := x.(string)
		if !ok {
			return FuncMeta{}, fmt.Errorf("%w: :doc is a %T", ErrInvalidEDN, x)
		}
		m.Doc = doc
	}
	x, _ := get(metaArglists)
	var arglists []any
	switch x := x.(type) {
	case nil:
		return m, nil
	case List:
		arglists = x
	case []any:
		arglists = x
	default:
		return FuncMeta{}, fmt.Errorf("%w: :arglists is a %T", ErrInvalidEDN, x)
	}
	if len(arglists) == 0 {
		return m, nil
	}
	var args []any
	switch a := arglists[0].(type) {
	case []any:
		args = a
	case List:
		args = a
	default:
		return FuncMeta{}, fmt.Errorf("%w: arglist is a %T", ErrInvalidEDN, a)
	}
	for _, a := range args {
		switch a := a.(type) {
		case Symbol:
			if a == "&" {
				return m.withParam(variadicParam), nil
			}
			m.Params = append(m.Params, string(a))
		case string:
			m.Params = append(m.Params, a)
		default:
			text, err := AppendEDN(nil, a)
			if err != nil {
				return FuncMeta{}, err
			}
			m.Params = append(m.Params, string(text))
		}
	}
	return m, nil
}

func (m FuncMeta) withParam(p string) FuncMeta {
	m.Params = append(m.Params, p)
	return m
}
