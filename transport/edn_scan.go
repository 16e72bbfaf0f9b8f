package transport

import (
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// The EDN codec decodes into the types of [Codec] in two steps, as the JSON
// codec does: ednScanner checks the text without allocating and estimates
// what decoding it allocates (see budget.go); a second scan notes how many
// elements each collection has, so that ednDecoder makes each at its size.
//
// The estimate counts, besides the costs of budget.go: a keyword, symbol
// or character as a string of its text; an #inst as a string of 24 bytes
// and 64 for parsing it; a number other than an integer of at most 18
// digits, its text rounded up; a string with escapes, its text rounded up
// for the buffer it is decoded in; a map whose keys are not all strings, a
// map[any]any, its keys boxed.

// ednCodecMaxDepth is the nesting the EDN codec accepts, as the JSON codec.
const ednCodecMaxDepth = jsonMaxDepth

// Costs of the EDN decoder, in bytes, beyond those of budget.go.
const (
	costEDNInst    = 64 // parsing an #inst
	costNumError   = 48 // a *strconv.NumError
	costEDNInstLen = len("2006-01-02T15:04:05.000Z")
	costEDNUUIDLen = len("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
)

// ednScanner walks EDN text. With counts nil it checks the text and sums
// the estimate; with counts set, on text it has checked, it records the
// element count of each collection in the order they open, negated for a
// map whose keys are not all strings. Elements discarded by #_ are checked
// but neither counted nor recorded.
type ednScanner struct {
	data       []byte
	pos        int
	cost       int
	containers int
	counts     []int32
	discarding int // > 0 within a #_ element
}

// ednScan checks that data is one EDN element, with only whitespace,
// commas and comments around it, and returns the estimate of what decoding
// it allocates and its number of collections.
func ednScan(data []byte) (cost, containers int, err error) {
	s := ednScanner{data: data}
	if err := s.top(); err != nil {
		return 0, 0, err
	}
	if s.containers > 0 {
		s.cost += roundAlloc(costJSONCounter * s.containers)
	}
	return s.cost, s.containers, nil
}

func (s *ednScanner) top() error {
	if err := s.skip(0); err != nil {
		return err
	}
	if s.pos == len(s.data) {
		return fmt.Errorf("%w: no value: %w", ErrInvalidEDN, io.ErrUnexpectedEOF)
	}
	if _, err := s.value(0); err != nil {
		return err
	}
	if err := s.skip(0); err != nil {
		return err
	}
	if s.pos != len(s.data) {
		return fmt.Errorf("%w: %w at offset %d", ErrInvalidEDN, errTrailingData, s.pos)
	}
	return nil
}

// ednCounts returns the element counts of the collections of data, which
// ednScan has checked.
func ednCounts(data []byte, containers int) []int32 {
	if containers == 0 {
		return nil
	}
	s := ednScanner{data: data, counts: make([]int32, 0, containers)}
	_ = s.top()
	return s.counts
}

func (s *ednScanner) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: at offset %d: %s", ErrInvalidEDN, s.pos, fmt.Sprintf(format, args...))
}

func (s *ednScanner) add(cost int) {
	if s.discarding == 0 {
		s.cost += cost
	}
}

// skip moves past whitespace, commas, comments and #_ discarded elements.
func (s *ednScanner) skip(depth int) error {
	for s.pos < len(s.data) {
		switch c := s.data[s.pos]; {
		case isEDNSpace(c):
			s.pos++
		case c == ';':
			for s.pos < len(s.data) && s.data[s.pos] != '\n' {
				s.pos++
			}
		case c == '#' && s.pos+1 < len(s.data) && s.data[s.pos+1] == '_':
			s.pos += 2
			s.discarding++
			err := s.skip(depth + 1)
			if err == nil && s.pos == len(s.data) {
				err = s.errorf("#_ without an element to discard")
			}
			if err == nil {
				_, err = s.value(depth + 1)
			}
			s.discarding--
			if err != nil {
				return err
			}
		default:
			return nil
		}
	}
	return nil
}

func isEDNSpace(c byte) bool {
	return c == ' ' || c == ',' || c == '\n' || c == '\t' || c == '\r' || c == '\f'
}

// isEDNDelimiter reports whether c ends a token.
func isEDNDelimiter(c byte) bool {
	switch c {
	case ' ', ',', '\n', '\t', '\r', '\f', '(', ')', '[', ']', '{', '}', '"', ';', '\\':
		return true
	}
	return false
}

// tokenEnd is the end of the token starting at pos.
func tokenEnd(data []byte, pos int) int {
	for pos < len(data) && !isEDNDelimiter(data[pos]) {
		pos++
	}
	return pos
}

// value scans the element at pos, which the caller has checked is there,
// and reports whether it decodes to a string.
func (s *ednScanner) value(depth int) (isString bool, err error) {
	if depth >= ednCodecMaxDepth {
		return false, s.errorf("nested deeper than %d", ednCodecMaxDepth)
	}
	switch c := s.data[s.pos]; c {
	case '(', '[':
		s.pos++
		if c == '(' {
			return false, s.seq(')', depth)
		}
		return false, s.seq(']', depth)
	case '{':
		s.pos++
		return false, s.mapBody(depth)
	case '"':
		raw, escaped, err := s.str()
		if err != nil {
			return false, err
		}
		s.add(costString(raw))
		if escaped {
			s.add(roundAlloc(raw))
		}
		return true, nil
	case '\\':
		if _, err := s.char(); err != nil {
			return false, err
		}
		s.add(costString(utf8.UTFMax))
		return true, nil
	case '#':
		return s.dispatch(depth)
	case '^':
		return false, s.errorf("metadata is not supported")
	case ')', ']', '}':
		return false, s.errorf("unexpected %q", c)
	}
	return s.token()
}

// seq scans elements up to and including close.
func (s *ednScanner) seq(close byte, depth int) error {
	n := 0
	index := s.open()
	for {
		if err := s.skip(depth + 1); err != nil {
			return err
		}
		if s.pos == len(s.data) {
			return s.errorf("missing %q", close)
		}
		if s.data[s.pos] == close {
			s.pos++
			s.add(costArray(n))
			s.record(index, n)
			return nil
		}
		if _, err := s.value(depth + 1); err != nil {
			return err
		}
		n++
	}
}

// open counts a collection and, when recording, reserves its count.
func (s *ednScanner) open() int {
	if s.discarding > 0 {
		return -1
	}
	s.containers++
	if s.counts == nil {
		return -1
	}
	s.counts = append(s.counts, 0)
	return len(s.counts) - 1
}

func (s *ednScanner) record(index, n int) {
	if index >= 0 {
		s.counts[index] = int32(n)
	}
}

func (s *ednScanner) mapBody(depth int) error {
	start := s.pos - 1
	index := s.open()
	n, stringKeys := 0, true
	for {
		if err := s.skip(depth + 1); err != nil {
			return err
		}
		if s.pos == len(s.data) {
			return s.errorf("missing '}'")
		}
		if s.data[s.pos] == '}' {
			break
		}
		isString, err := s.value(depth + 1)
		if err != nil {
			return err
		}
		if n%2 == 0 {
			stringKeys = stringKeys && isString
		}
		n++
	}
	if n%2 != 0 {
		s.pos = start
		return s.errorf("map with an odd number of elements")
	}
	s.pos++
	pairs := n / 2
	s.add(costMapOf(pairs))
	if stringKeys {
		s.record(index, pairs)
	} else {
		s.record(index, -pairs)
	}
	return nil
}

// dispatch scans an element starting with '#': a set, a symbolic value or a
// tagged element.
func (s *ednScanner) dispatch(depth int) (bool, error) {
	if s.pos+1 == len(s.data) {
		return false, s.errorf("lone '#'")
	}
	switch s.data[s.pos+1] {
	case '{':
		s.pos += 2
		return false, s.seq('}', depth)
	case '#':
		s.pos += 2
		end := tokenEnd(s.data, s.pos)
		switch string(s.data[s.pos:end]) {
		case "Inf", "-Inf", "NaN":
			s.pos = end
			s.add(costNumber)
			return false, nil
		}
		return false, s.errorf("unknown symbolic value ##%s", s.data[s.pos:end])
	case '_':
		return false, s.errorf("#_ without an element to discard")
	}
	s.pos++
	end := tokenEnd(s.data, s.pos)
	tag := s.data[s.pos:end]
	var size int
	switch string(tag) {
	case "inst":
		size = costEDNInstLen
		s.add(costEDNInst)
	case "uuid":
		size = costEDNUUIDLen
		s.add(roundAlloc(size)) // lowering its case
	default:
		return false, s.errorf("unknown tag #%s", tag)
	}
	s.pos = end
	if err := s.skip(depth + 1); err != nil {
		return false, err
	}
	if s.pos == len(s.data) || s.data[s.pos] != '"' {
		return false, s.errorf("#%s without a string", tag)
	}
	raw, escaped, err := s.str()
	if err != nil {
		return false, err
	}
	if escaped {
		s.add(costString(raw) + roundAlloc(raw))
	} else {
		s.add(costString(raw))
	}
	s.add(costString(size))
	return true, nil
}

// str scans the string at pos and returns the length of its text between
// the quotes and whether it has escapes.
func (s *ednScanner) str() (raw int, escaped bool, err error) {
	start := s.pos
	s.pos++
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case '"':
			s.pos++
			return s.pos - start - 2, escaped, nil
		case '\\':
			escaped = true
			s.pos += 2
			continue
		}
		s.pos++
	}
	s.pos = start
	return 0, false, s.errorf("unterminated string")
}

// char scans a character: a backslash, and a character or a name.
func (s *ednScanner) char() (rune, error) {
	r, end, ok := ednChar(s.data, s.pos)
	if !ok {
		return 0, s.errorf("invalid character %q", s.data[s.pos:end])
	}
	s.pos = end
	return r, nil
}

// ednChar reads the character literal at pos: its rune and its end.
func ednChar(data []byte, pos int) (rune, int, bool) {
	if pos+1 >= len(data) {
		return 0, len(data), false
	}
	_, size := utf8.DecodeRune(data[pos+1:])
	end := tokenEnd(data, pos+1+size)
	name := data[pos+1 : end]
	if len(name) == size {
		r, _ := utf8.DecodeRune(name)
		return r, end, r != utf8.RuneError
	}
	switch string(name) {
	case "newline":
		return '\n', end, true
	case "space":
		return ' ', end, true
	case "tab":
		return '\t', end, true
	case "return":
		return '\r', end, true
	case "formfeed":
		return '\f', end, true
	case "backspace":
		return '\b', end, true
	}
	if name[0] == 'u' && len(name) == 5 {
		if n, err := strconv.ParseUint(string(name[1:]), 16, 16); err == nil && !utf16IsHighSurrogate(rune(n)) && !utf16IsLowSurrogate(rune(n)) {
			return rune(n), end, true
		}
	}
	if name[0] == 'o' && len(name) >= 2 && len(name) <= 4 {
		if n, err := strconv.ParseUint(string(name[1:]), 8, 16); err == nil && n <= 0377 {
			return rune(n), end, true
		}
	}
	return 0, end, false
}

// token scans a number, keyword, symbol, nil, true or false.
func (s *ednScanner) token() (bool, error) {
	end := tokenEnd(s.data, s.pos)
	tok := s.data[s.pos:end]
	if len(tok) == 0 {
		return false, s.errorf("unexpected %q", s.data[s.pos])
	}
	switch kind := ednTokenKind(tok); kind {
	case ednNumber:
		cost := costNumber
		if !ednSmallInt(tok) {
			// Its text, and an error of strconv's holding a copy of it.
			cost += 2*roundAlloc(len(tok)) + costNumError
		}
		s.add(cost)
	case ednName:
		s.add(costString(len(tok))) // the decoder checks the name
		s.pos = end
		return true, nil
	}
	s.pos = end
	return false, nil
}

type ednKind int

const (
	ednLiteral ednKind = iota // nil, true, false
	ednNumber
	ednName // a keyword or a symbol
)

func ednTokenKind(tok []byte) ednKind {
	c := tok[0]
	if c >= '0' && c <= '9' || (c == '+' || c == '-') && len(tok) > 1 && tok[1] >= '0' && tok[1] <= '9' {
		return ednNumber
	}
	switch string(tok) {
	case "nil", "true", "false":
		return ednLiteral
	}
	return ednName
}

// ednSmallInt reports whether tok is an integer of at most 18 digits, with
// an optional sign, which the decoder reads without allocating.
func ednSmallInt(tok []byte) bool {
	if tok[0] == '+' || tok[0] == '-' {
		tok = tok[1:]
	}
	if len(tok) == 0 || len(tok) > 18 || len(tok) > 1 && tok[0] == '0' {
		return false
	}
	for _, c := range tok {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
