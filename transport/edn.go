package transport

import (
	"bytes"
	"encoding/base64"
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
	return ednWriter{maxDepth: ednMaxDepth}.append(dst, v, 0)
}

// ednWriter writes EDN. The EDN codec's writer (codec set) writes string
// map keys that are valid keyword names as keywords, []byte as a base64
// string, and any other type as encoding/json would, read back.
type ednWriter struct {
	maxDepth int
	codec    bool
}

func (w ednWriter) append(dst []byte, v any, depth int) ([]byte, error) {
	if depth > w.maxDepth {
		return dst, fmt.Errorf("%w: nested deeper than %d", ErrInvalidEDN, w.maxDepth)
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
		return w.append(dst, v.Value, depth+1)
	case []any:
		return w.seq(dst, '[', ']', v, depth)
	case List:
		return w.seq(dst, '(', ')', v, depth)
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
		return appendEDNMap(w, dst, v, depth)
	case map[string]any:
		return appendEDNMap(w, dst, v, depth)
	case map[any]any:
		return appendEDNMap(w, dst, v, depth)
	case []byte:
		if w.codec {
			return appendEDNString(dst, base64.StdEncoding.EncodeToString(v)), nil
		}
		err = fmt.Errorf("%w: cannot write a %T", ErrInvalidEDN, v)
	default:
		if w.codec {
			return w.viaJSON(dst, v, depth)
		}
		err = fmt.Errorf("%w: cannot write a %T", ErrInvalidEDN, v)
	}
	return dst, err
}

// viaJSON writes v, of a type the writer does not know, as encoding/json
// encodes it, read back.
func (w ednWriter) viaJSON(dst []byte, v any, depth int) ([]byte, error) {
	x, err := viaJSON(v)
	if err != nil {
		return dst, fmt.Errorf("%w: %w", ErrInvalidEDN, err)
	}
	return w.append(dst, x, depth)
}

func (w ednWriter) seq(dst []byte, open, close byte, elems []any, depth int) ([]byte, error) {
	dst = append(dst, open)
	for i, e := range elems {
		if i > 0 {
			dst = append(dst, ' ')
		}
		var err error
		if dst, err = w.append(dst, e, depth+1); err != nil {
			return dst, err
		}
	}
	return append(dst, close), nil
}

// appendEDNMap writes m with its entries sorted by the text of their keys.
func appendEDNMap[K comparable](w ednWriter, dst []byte, m map[K]any, depth int) ([]byte, error) {
	type entry struct {
		key []byte
		val any
	}
	entries := make([]entry, 0, len(m))
	for k, v := range m {
		var key []byte
		var err error
		if s, ok := any(k).(string); ok && w.codec && validEDNName(s) {
			key = append(append(key, ':'), s...)
		} else {
			key, err = w.append(nil, k, depth+1)
		}
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
		if dst, err = w.append(dst, e.val, depth+1); err != nil {
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
