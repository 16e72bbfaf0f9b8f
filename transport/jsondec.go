package transport

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// The JSON codec decodes into the types of [Codec] by hand, in two steps:
// jsonScan checks the text (JSON as RFC 8259 and encoding/json take it,
// nested at most jsonMaxDepth deep) without allocating and estimates what
// decoding it allocates (see budget.go); a second scan notes how many
// elements each array and object has, so that jsonDecoder makes each at
// its size (the first scan notes the counts of the first few itself, which
// spares the second scan for most calls' arguments). Strings decode as encoding/json decodes them: an invalid UTF-8
// byte or a lone surrogate becomes U+FFFD.

// jsonScanner walks JSON text. With counts nil it checks the text, sums
// the estimate and records the element counts of the first
// len(small) arrays and objects; with counts set, on text it has checked,
// it records the element count of each array and object. Both in the
// order they open.
type jsonScanner struct {
	data       []byte
	pos        int
	cost       int     // the estimate so far
	containers int     // arrays and objects seen
	counts     []int32 // see above
	small      jsonSmallCounts
}

// jsonSmallCounts are the element counts of a text's first arrays and
// objects.
type jsonSmallCounts [8]int32

// jsonScan checks that data is one JSON value, with only whitespace after
// it, and returns the estimate of what decoding it allocates, and its
// number of arrays and objects.
func jsonScan(data []byte) (cost, containers int, err error) {
	s := jsonScanner{data: data}
	err = s.check()
	return s.cost, s.containers, err
}

// check checks the text as jsonScan does.
func (s *jsonScanner) check() error {
	s.space()
	if s.pos == len(s.data) {
		return fmt.Errorf("transport: json: no value: %w", io.ErrUnexpectedEOF)
	}
	if err := s.value(0, true); err != nil {
		return err
	}
	s.space()
	if s.pos != len(s.data) {
		return fmt.Errorf("transport: json: %w at offset %d", errTrailingData, s.pos)
	}
	if s.containers > len(s.small) {
		s.cost += roundAlloc(costJSONCounter * s.containers)
	}
	return nil
}

// jsonCounts returns the element counts of the containers arrays and
// objects of data, which jsonScan has checked.
func jsonCounts(data []byte, containers int) []int32 {
	if containers == 0 {
		return nil
	}
	s := jsonScanner{data: data, counts: make([]int32, 0, containers)}
	s.space()
	_ = s.value(0, true)
	return s.counts
}

func (s *jsonScanner) space() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *jsonScanner) errAt(what string) error {
	if s.pos >= len(s.data) {
		return fmt.Errorf("transport: json: unexpected end of input %s: %w", what, io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("transport: json: invalid character %q %s at offset %d", s.data[s.pos], what, s.pos)
}

// value scans the value at pos; boxed says whether it is held in an
// interface (not a key).
func (s *jsonScanner) value(depth int, boxed bool) error {
	if s.pos >= len(s.data) {
		return s.errAt("looking for a value")
	}
	switch c := s.data[s.pos]; {
	case c == '{' || c == '[':
		if depth >= jsonMaxDepth {
			return fmt.Errorf("transport: json: nested deeper than %d", jsonMaxDepth)
		}
		return s.container(depth)
	case c == '"':
		n, err := s.str()
		if err == nil && n > 0 {
			s.cost += costString(n)
		}
		return err
	case c == '-' || c >= '0' && c <= '9':
		start := s.pos
		err := s.number()
		s.cost += costNumber
		if text := s.data[start:s.pos]; len(text) > 18 || bytes.ContainsAny(text, ".eE") {
			s.cost += roundAlloc(len(text)) // decoded from a string of it
		}
		return err
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return s.errAt("looking for a value")
}

func (s *jsonScanner) literal(lit string) error {
	for i := range len(lit) {
		if s.pos >= len(s.data) || s.data[s.pos] != lit[i] {
			return s.errAt("in literal " + lit)
		}
		s.pos++
	}
	return nil
}

// container scans an array or an object.
func (s *jsonScanner) container(depth int) error {
	object := s.data[s.pos] == '{'
	end := byte(']')
	if object {
		end = '}'
	}
	s.pos++
	at := s.containers
	s.containers++
	if s.counts != nil {
		s.counts = append(s.counts, 0)
	}
	n := 0
	s.space()
	if s.pos < len(s.data) && s.data[s.pos] == end {
		s.pos++
	} else {
		for {
			if object {
				if s.pos >= len(s.data) || s.data[s.pos] != '"' {
					return s.errAt("looking for the beginning of an object key")
				}
				k, err := s.str()
				if err != nil {
					return err
				}
				s.cost += roundAlloc(k)
				s.space()
				if s.pos >= len(s.data) || s.data[s.pos] != ':' {
					return s.errAt("after an object key")
				}
				s.pos++
				s.space()
			}
			if err := s.value(depth+1, true); err != nil {
				return err
			}
			n++
			s.space()
			if s.pos >= len(s.data) {
				return s.errAt("after an element")
			}
			if c := s.data[s.pos]; c == end {
				s.pos++
				break
			} else if c != ',' {
				return s.errAt("after an element")
			}
			s.pos++
			s.space()
		}
	}
	switch {
	case s.counts != nil:
		s.counts[at] = int32(n)
	case at < len(s.small):
		s.small[at] = int32(n)
	}
	if object {
		s.cost += costMapOf(n)
	} else {
		s.cost += costArray(n)
	}
	return nil
}

// str scans a string and returns the size of its decoded text.
func (s *jsonScanner) str() (int, error) {
	s.pos++ // the opening quote
	n := 0
	for {
		if s.pos >= len(s.data) {
			return 0, s.errAt("in a string")
		}
		c := s.data[s.pos]
		switch {
		case c == '"':
			s.pos++
			return n, nil
		case c < 0x20:
			return 0, s.errAt("in a string")
		case c == '\\':
			r, size, ok := jsonEscape(s.data[s.pos:])
			if !ok {
				s.pos++
				return 0, s.errAt("in a string escape")
			}
			s.pos += size
			n += utf8.RuneLen(r)
		case c < utf8.RuneSelf:
			s.pos++
			n++
		default:
			r, size := utf8.DecodeRune(s.data[s.pos:])
			s.pos += size
			n += utf8.RuneLen(r) // 3 for U+FFFD, which an invalid byte becomes
		}
	}
}

// jsonEscape decodes the escape b starts with, a backslash and what
// follows, into its rune and size: a surrogate pair is one rune, a lone
// surrogate U+FFFD.
func jsonEscape(b []byte) (rune, int, bool) {
	if len(b) < 2 {
		return 0, 0, false
	}
	switch b[1] {
	case '"', '\\', '/':
		return rune(b[1]), 2, true
	case 'b':
		return '\b', 2, true
	case 'f':
		return '\f', 2, true
	case 'n':
		return '\n', 2, true
	case 'r':
		return '\r', 2, true
	case 't':
		return '\t', 2, true
	case 'u':
		r, ok := jsonHex4(b[2:])
		if !ok {
			return 0, 0, false
		}
		if !utf16.IsSurrogate(r) {
			return r, 6, true
		}
		if len(b) >= 12 && b[6] == '\\' && b[7] == 'u' {
			if r2, ok := jsonHex4(b[8:]); ok {
				if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
					return d, 12, true
				}
			}
		}
		return utf8.RuneError, 6, true
	}
	return 0, 0, false
}

func jsonHex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *jsonScanner) number() error {
	digits := func() bool {
		start := s.pos
		for s.pos < len(s.data) && s.data[s.pos] >= '0' && s.data[s.pos] <= '9' {
			s.pos++
		}
		return s.pos > start
	}
	if s.data[s.pos] == '-' {
		s.pos++
	}
	if s.pos < len(s.data) && s.data[s.pos] == '0' {
		s.pos++
	} else if !digits() {
		return s.errAt("in a number")
	}
	if s.pos < len(s.data) && s.data[s.pos] == '.' {
		s.pos++
		if !digits() {
			return s.errAt("after a decimal point")
		}
	}
	if s.pos < len(s.data) && (s.data[s.pos] == 'e' || s.data[s.pos] == 'E') {
		s.pos++
		if s.pos < len(s.data) && (s.data[s.pos] == '+' || s.data[s.pos] == '-') {
			s.pos++
		}
		if !digits() {
			return s.errAt("in an exponent")
		}
	}
	return nil
}

// jsonDecoder decodes text jsonScan has checked, with the counts jsonScan
// noted (small), or those jsonCounts found when it saw more containers.
type jsonDecoder struct {
	data   []byte
	pos    int
	counts []int32
	small  jsonSmallCounts
	next   int // the next of small
}

func (d *jsonDecoder) space() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *jsonDecoder) count() int {
	if d.counts == nil {
		d.next++
		return int(d.small[d.next-1])
	}
	n := d.counts[0]
	d.counts = d.counts[1:]
	return int(n)
}

func (d *jsonDecoder) value() (any, error) {
	d.space()
	switch c := d.data[d.pos]; c {
	case '[':
		return d.array()
	case '{':
		return d.object()
	case '"':
		return d.str(), nil
	case 't':
		d.pos += 4
		return true, nil
	case 'f':
		d.pos += 5
		return false, nil
	case 'n':
		d.pos += 4
		return nil, nil
	}
	return d.number()
}

func (d *jsonDecoder) array() ([]any, error) {
	d.pos++ // [
	a := make([]any, d.count())
	for i := range a {
		d.space()
		if i > 0 {
			d.pos++ // ,
		}
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		a[i] = v
	}
	d.space()
	d.pos++ // ]
	return a, nil
}

func (d *jsonDecoder) object() (map[string]any, error) {
	d.pos++ // {
	n := d.count()
	m := make(map[string]any, n)
	for i := range n {
		d.space()
		if i > 0 {
			d.pos++ // ,
			d.space()
		}
		k := d.str()
		d.space()
		d.pos++ // :
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		m[k] = v // the last of equal keys wins, as in encoding/json
	}
	d.space()
	d.pos++ // }
	return m, nil
}

// str decodes the string at pos.
func (d *jsonDecoder) str() string {
	d.pos++ // "
	start := d.pos
	plain := true
	for {
		c := d.data[d.pos]
		if c == '"' {
			break
		}
		if c == '\\' {
			plain = false
			_, size, _ := jsonEscape(d.data[d.pos:])
			d.pos += size
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(d.data[d.pos:])
			if r == utf8.RuneError && size == 1 {
				plain = false
			}
			d.pos += size
			continue
		}
		d.pos++
	}
	raw := d.data[start:d.pos]
	d.pos++ // "
	if plain {
		return string(raw)
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(raw); {
		r, size := jsonRune(raw[i:])
		n += utf8.RuneLen(r)
		i += size
	}
	b.Grow(n)
	for i := 0; i < len(raw); {
		r, size := jsonRune(raw[i:])
		b.WriteRune(r)
		i += size
	}
	return b.String()
}

// jsonRune decodes the rune of a string's text b starts with.
func jsonRune(b []byte) (rune, int) {
	if b[0] == '\\' {
		r, size, _ := jsonEscape(b)
		return r, size
	}
	if b[0] < utf8.RuneSelf {
		return rune(b[0]), 1
	}
	return utf8.DecodeRune(b)
}

// number decodes the number at pos, see jsonNumber.
func (d *jsonDecoder) number() (any, error) {
	start := d.pos
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		if !(c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
			break
		}
		d.pos++
	}
	return jsonNumberBytes(d.data[start:d.pos])
}

// jsonNumberBytes is jsonNumber of a number's text, without copying it when
// it is a small integer.
func jsonNumberBytes(b []byte) (any, error) {
	if len(b) <= 18 {
		if n, ok := jsonSmallInt(b); ok {
			return n, nil
		}
	}
	return jsonNumber(string(b))
}

// jsonSmallInt parses an integer of at most 18 digits, which fits int64.
func jsonSmallInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// jsonNumber converts a JSON number: an integer literal to int64, or to
// uint64 when it passes int64 and fits uint64; an integer beyond both is an
// error, and so is a number beyond float64; anything else is a float64.
func jsonNumber(s string) (any, error) {
	if !strings.ContainsAny(s, ".eE") {
		neg := strings.HasPrefix(s, "-")
		mag, err := strconv.ParseUint(strings.TrimPrefix(s, "-"), 10, 64)
		switch {
		case err != nil:
		case !neg && mag <= math.MaxInt64:
			return int64(mag), nil
		case !neg:
			return mag, nil
		case mag <= 1<<63:
			return -int64(mag), nil // -(1<<63) wraps to itself
		}
		return nil, fmt.Errorf("%w: integer %s fits neither int64 nor uint64", errJSONRange, s)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is beyond float64", errJSONRange, s)
	}
	return f, nil
}
