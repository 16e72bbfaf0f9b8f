package transport

import (
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// ednDecoder decodes text ednScan has checked, with the counts ednCounts
// found, into the types of [Codec].
type ednDecoder struct {
	data   []byte
	pos    int
	counts []int32
}

func (d *ednDecoder) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: at offset %d: %s", ErrInvalidEDN, d.pos, fmt.Sprintf(format, args...))
}

func (d *ednDecoder) count() int {
	n := d.counts[0]
	d.counts = d.counts[1:]
	return int(n)
}

// skip moves past what the scanner's skip does; the text is checked, so a
// discarded element is skipped by a scanner that counts nothing.
func (d *ednDecoder) skip() {
	s := ednScanner{data: d.data, pos: d.pos, discarding: 1}
	_ = s.skip(0)
	d.pos = s.pos
}

func (d *ednDecoder) value() (any, error) {
	d.skip()
	switch c := d.data[d.pos]; c {
	case '(', '[':
		d.pos++
		return d.seq()
	case '{':
		d.pos++
		return d.mapBody()
	case '"':
		return d.str()
	case '\\':
		r, end, _ := ednChar(d.data, d.pos)
		d.pos = end
		return string(r), nil
	case '#':
		return d.dispatch()
	}
	return d.token()
}

func (d *ednDecoder) seq() ([]any, error) {
	a := make([]any, d.count())
	for i := range a {
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		a[i] = v
	}
	d.skip()
	d.pos++ // the closing bracket
	return a, nil
}

func (d *ednDecoder) mapBody() (any, error) {
	start := d.pos - 1
	n := d.count()
	var m map[string]any
	var mm map[any]any
	if n >= 0 {
		m = make(map[string]any, n)
	} else {
		n = -n
		mm = make(map[any]any, n)
	}
	for range n {
		k, err := d.value()
		if err != nil {
			return nil, err
		}
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		dup := false
		if m != nil {
			ks := k.(string)
			_, dup = m[ks]
			m[ks] = v
		} else {
			switch k := k.(type) {
			case []any, map[string]any, map[any]any:
				d.pos = start
				return nil, d.errorf("map key of type %T", k)
			case float64:
				if math.IsNaN(k) {
					d.pos = start
					return nil, d.errorf("map key NaN")
				}
			}
			_, dup = mm[k]
			mm[k] = v
		}
		if dup {
			d.pos = start
			return nil, d.errorf("duplicate map key %#v", k)
		}
	}
	d.skip()
	d.pos++ // }
	if m != nil {
		return m, nil
	}
	return mm, nil
}

func (d *ednDecoder) dispatch() (any, error) {
	switch d.data[d.pos+1] {
	case '{':
		d.pos += 2
		return d.seq()
	case '#':
		d.pos += 2
		end := tokenEnd(d.data, d.pos)
		tok := string(d.data[d.pos:end])
		d.pos = end
		switch tok {
		case "Inf":
			return math.Inf(1), nil
		case "-Inf":
			return math.Inf(-1), nil
		}
		return math.NaN(), nil
	}
	start := d.pos
	d.pos++
	end := tokenEnd(d.data, d.pos)
	inst := string(d.data[d.pos:end]) == "inst"
	d.pos = end
	d.skip()
	text, err := d.str()
	if err != nil {
		return nil, err
	}
	if inst {
		t, ok := parseInst(text)
		if !ok {
			d.pos = start
			return nil, d.errorf("invalid #inst %q", text)
		}
		return t.UTC().Format("2006-01-02T15:04:05.000Z"), nil
	}
	if !validUUID(text) {
		d.pos = start
		return nil, d.errorf("invalid #uuid %q", text)
	}
	return asciiLower(text), nil
}

// parseInst reads the text of an #inst: RFC 3339, or its leading part down
// to the year, as Clojure's reader takes it.
func parseInst(s string) (time.Time, bool) {
	layout := time.RFC3339Nano
	switch len(s) {
	case 4, 7, 10, 13, 16, 19:
		layout = "2006-01-02T15:04:05"[:len(s)]
	}
	t, err := time.Parse(layout, s)
	return t, err == nil
}

// validUUID reports whether s is a UUID in its canonical form,
// 8-4-4-4-12 hex digits.
func validUUID(s string) bool {
	if len(s) != costEDNUUIDLen {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
			continue
		}
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func asciiLower(s string) string {
	for i := range len(s) {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// str decodes the string at pos.
func (d *ednDecoder) str() (string, error) {
	p := ednParser{data: d.data, pos: d.pos}
	s, err := p.str()
	d.pos = p.pos
	return s, err
}

func (d *ednDecoder) token() (any, error) {
	start := d.pos
	end := tokenEnd(d.data, d.pos)
	tok := d.data[start:end]
	d.pos = end
	switch ednTokenKind(tok) {
	case ednNumber:
		v, err := ednNumberValue(tok)
		if err != nil {
			d.pos = start
			return nil, d.errorf("%v", err)
		}
		return v, nil
	case ednName:
		name := string(tok)
		if name[0] == ':' {
			name = name[1:]
		}
		if !utf8.ValidString(name) || !validEDNName(name) {
			d.pos = start
			kind := "symbol"
			if tok[0] == ':' {
				kind = "keyword"
			}
			return nil, d.errorf("invalid %s %q", kind, tok)
		}
		return name, nil
	}
	switch tok[0] {
	case 't':
		return true, nil
	case 'f':
		return false, nil
	}
	return nil, nil
}

// ednNumberValue reads an integer (int64, or uint64 above math.MaxInt64),
// a float (float64, also with an M suffix) or a ratio (as a float64).
func ednNumberValue(tok []byte) (any, error) {
	if ednSmallInt(tok) {
		neg := tok[0] == '-'
		if tok[0] == '+' || neg {
			tok = tok[1:]
		}
		var n int64
		for _, c := range tok {
			n = n*10 + int64(c-'0')
		}
		if neg {
			n = -n
		}
		return n, nil
	}
	text := string(tok)
	if num, den, ok := cutByte(text, '/'); ok {
		if !ednDigits(num) || !ednDigits(den) {
			return nil, fmt.Errorf("invalid ratio %q", text)
		}
		n, err1 := strconv.ParseFloat(num, 64)
		m, err2 := strconv.ParseFloat(den, 64)
		if err1 != nil || err2 != nil || m == 0 {
			return nil, fmt.Errorf("invalid ratio %q", text)
		}
		return n / m, nil
	}
	return parseEDNNumber(text)
}

// ednDigits reports whether s is an integer with an optional sign.
func ednDigits(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	if s == "" {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func cutByte(s string, c byte) (before, after string, found bool) {
	for i := range len(s) {
		if s[i] == c {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}
