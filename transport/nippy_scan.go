package transport

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// nippyCheck reports whether data holds exactly one nippy value of the
// types this package reads, nested at most nippyMaxDepth deep, whose every
// length fits in data, and returns the estimate of what decoding it
// allocates (see budget.go). It allocates nothing.
func nippyCheck(data []byte) (int, error) {
	s := nippyScan{data: data}
	end, _, err := s.skip(0, 0)
	if err != nil {
		return 0, err
	}
	if end != len(data) {
		return 0, fmt.Errorf("transport: nippy: %w at offset %d", errTrailingData, end)
	}
	return s.cost, nil
}

// nippyScan walks a frozen value, summing the estimate.
type nippyScan struct {
	data []byte
	cost int
}

// need returns the n bytes at pos, or errNippyShort.
func (s *nippyScan) need(pos, n int) ([]byte, error) {
	if n < 0 || n > len(s.data)-pos {
		return nil, errNippyShort
	}
	return s.data[pos : pos+n], nil
}

// count reads the count of size 1, 2 or 4 bytes at pos, refusing a
// negative one, as nippy does, and one that claims more items than the
// bytes after it (each item takes one at least).
func (s *nippyScan) count(pos, size int, per int) (int, int, error) {
	b, err := s.need(pos, size)
	if err != nil {
		return 0, 0, err
	}
	n := nippyCount(b)
	if n < 0 {
		return 0, 0, fmt.Errorf("transport: nippy: negative count %d at offset %d", n, pos)
	}
	if n > (len(s.data)-pos-size)/per {
		return 0, 0, errNippyShort
	}
	return n, pos + size, nil
}

// nippyCount is the signed big-endian count of 1, 2 or 4 bytes b.
func nippyCount(b []byte) int {
	switch len(b) {
	case 1:
		return int(int8(b[0]))
	case 2:
		return int(int16(binary.BigEndian.Uint16(b)))
	}
	return int(int32(binary.BigEndian.Uint32(b)))
}

// nippyCountSize is the size of the count of type id c, for the ids of
// strings, byte arrays and collections; 0 for an empty one.
func nippyCountSize(c byte) int {
	switch c {
	case nippyStrSm, nippyKwSm, nippySymSm, nippyBytesSm, nippyVecSm, nippySetSm, nippyMapSm, nippyListSm, nippySeqSm:
		return 1
	case nippyStrMd, nippyKwMd, nippySymMd, nippyBytesMd, nippyVecMd, nippySetMd, nippyMapMd, nippyListMd, nippySeqMd:
		return 2
	case nippyStrLg, nippyKwLg, nippyKwMdDepr1, nippySymLg, nippySymMdDepr1, nippyBytesLg, nippyVecLg, nippySetLg, nippyMapLg,
		nippyListLg, nippySeqLg, nippyObjectsLg, nippySortedSet, nippySortedMap, nippyQueue:
		return 4
	}
	return 0
}

// nippyFixed is, for the types of a fixed size, 1 and the size of their
// payload; 0 for the others.
var nippyFixed = [256]uint8{
	nippyNil: 1, nippyTrue: 1, nippyFalse: 1, nippyLongZero: 1, nippyDoubleZero: 1,
	nippyByte: 2, nippyLongSm: 2, nippyShort: 3, nippyLongMd: 3, nippyInteger: 5, nippyLongLg: 5,
	nippyLongXl: 9, nippyFloat: 5, nippyDouble: 9, nippyChar: 3, nippyDate: 9, nippyUUID: 17,
	nippyStr0: 1, nippyBytes0: 1, nippyVec0: 1, nippySet0: 1, nippyMap0: 1, nippyList0: 1, nippySeq0: 1,
}

// nippyKind is what a value decodes to, as far as a map cares.
type nippyKind uint8

const (
	nippyOther  nippyKind = iota // a key of a map[any]any
	nippyString                  // a string
)

// nippyIsString reports whether values of type id c decode to strings.
func nippyIsString(c byte) bool {
	switch c {
	case nippyStr0, nippyStrSm, nippyStrMd, nippyStrLg, nippyKwSm, nippyKwMd, nippyKwLg, nippyKwMdDepr1,
		nippySymSm, nippySymMd, nippySymLg, nippySymMdDepr1, nippyChar, nippyDate, nippyUUID, nippyPrefixedCustom:
		return true
	}
	return false
}

// skip returns the offset after the value at pos and its kind, adding the
// estimate of decoding it.
func (s *nippyScan) skip(pos, depth int) (int, nippyKind, error) {
	if depth > nippyMaxDepth {
		return 0, 0, fmt.Errorf("transport: nippy: nested deeper than %d", nippyMaxDepth)
	}
	if pos >= len(s.data) {
		return 0, 0, errNippyShort
	}
	c := s.data[pos]
	pos++
	kind := nippyOther
	if nippyIsString(c) {
		kind = nippyString
	}
	if f := nippyFixed[c]; f != 0 {
		n := int(f) - 1
		if _, err := s.need(pos, n); err != nil {
			return 0, 0, err
		}
		switch c {
		case nippyNil, nippyTrue, nippyFalse, nippyStr0:
		case nippyBytes0:
			s.cost += costBytes(0)
		case nippyVec0, nippySet0, nippyList0, nippySeq0:
			s.cost += costArray(0)
		case nippyMap0:
			s.cost += costMapOf(0)
		case nippyChar:
			s.cost += costString(utf8.UTFMax)
		case nippyDate:
			s.cost += costString(len("2006-01-02T15:04:05.000Z") + 16) // years beyond 9999
		case nippyUUID:
			s.cost += costString(36)
		default:
			s.cost += costNumber
		}
		return pos + n, kind, nil
	}
	switch c {
	case nippyStrSm, nippyStrMd, nippyStrLg, nippyKwSm, nippyKwMd, nippyKwLg, nippyKwMdDepr1,
		nippySymSm, nippySymMd, nippySymLg, nippySymMdDepr1, nippyBytesSm, nippyBytesMd, nippyBytesLg:
		n, p, err := s.count(pos, nippyCountSize(c), 1)
		if err != nil {
			return 0, 0, err
		}
		if c == nippyBytesSm || c == nippyBytesMd || c == nippyBytesLg {
			s.cost += costBytes(n)
		} else {
			s.cost += costString(n)
		}
		return p + n, kind, nil
	case nippyVec2, nippyVec3:
		return s.skipItems(pos, int(c-nippyVec2)+2, false, depth)
	case nippyVecSm, nippyVecMd, nippyVecLg, nippySetSm, nippySetMd, nippySetLg, nippyListSm, nippyListMd, nippyListLg,
		nippySeqSm, nippySeqMd, nippySeqLg, nippyObjectsLg, nippySortedSet, nippyQueue:
		n, p, err := s.count(pos, nippyCountSize(c), 1)
		if err != nil {
			return 0, 0, err
		}
		return s.skipItems(p, n, false, depth)
	case nippyMapSm, nippyMapMd, nippyMapLg, nippySortedMap:
		n, p, err := s.count(pos, nippyCountSize(c), 2)
		if err != nil {
			return 0, 0, err
		}
		return s.skipItems(p, n, true, depth)
	case nippyMeta:
		p, _, err := s.skip(pos, depth+1) // read, then dropped
		if err != nil {
			return 0, 0, err
		}
		return s.skip(p, depth+1)
	case nippyBigInt, nippyBigInteger:
		n, p, err := s.count(pos, 4, 1)
		if err != nil {
			return 0, 0, err
		}
		s.cost += costNumber
		return p + n, kind, nil
	case nippyBigDec, nippyRatio:
		return s.skipBig(pos, c)
	case nippyPrefixedCustom:
		return s.skipCustom(pos)
	case nippySerializableSm, nippySerializableMd:
		n, p, err := s.count(pos, int(c-nippySerializableSm)+1, 1)
		if err != nil {
			return 0, 0, err
		}
		before := s.cost
		end, _, err := s.skip(p+n, depth+1)
		if err != nil {
			return 0, 0, err
		}
		if b := s.data[p+n]; b != nippyBytes0 && b != nippyBytesSm && b != nippyBytesMd && b != nippyBytesLg {
			return 0, 0, fmt.Errorf("transport: nippy: Serializable without its bytes at offset %d", pos-1)
		}
		s.cost = before + 2*costMapOf(3) + costString(n) // its bytes are skipped
		return end, nippyOther, nil
	}
	return 0, 0, fmt.Errorf("transport: nippy: unsupported type id %d at offset %d", int8(c), pos-1)
}

// skipItems skips n values at pos, the pairs of a map when pairs.
func (s *nippyScan) skipItems(pos, n int, pairs bool, depth int) (int, nippyKind, error) {
	if pairs {
		s.cost += costMapOf(n)
	} else {
		s.cost += costArray(n)
	}
	stringKeys := true
	for range n {
		p, kind, err := s.skip(pos, depth+1)
		if err != nil {
			return 0, 0, err
		}
		pos = p
		if !pairs {
			continue
		}
		if kind != nippyString {
			stringKeys = false
		}
		if pos, _, err = s.skip(pos, depth+1); err != nil {
			return 0, 0, err
		}
	}
	if !stringKeys {
		s.cost += costMapOf(n) // made again as a map[any]any
	}
	return pos, nippyOther, nil
}

// skipBig skips a BigDecimal (a BigInteger and an int scale) or a ratio
// (two BigIntegers).
func (s *nippyScan) skipBig(pos int, c byte) (int, nippyKind, error) {
	var size int
	for i := range 2 {
		if i == 1 && c == nippyBigDec {
			if _, err := s.need(pos, 4); err != nil {
				return 0, 0, err
			}
			pos += 4
			break
		}
		n, p, err := s.count(pos, 4, 1)
		if err != nil {
			return 0, 0, err
		}
		if n > nippyMaxBigSize {
			return 0, 0, fmt.Errorf("transport: nippy: a BigInteger of %d bytes in a BigDecimal or ratio, more than %d", n, nippyMaxBigSize)
		}
		size += n
		pos = p + n
	}
	s.cost += nippyBigCost(size)
	return pos, nippyOther, nil
}

// nippyBigCost is the estimate of what converting a BigDecimal or a ratio
// of size bytes to a float64 allocates: big integers of the size, their
// decimal digits and the scratch of math/big's arithmetic.
func nippyBigCost(size int) int {
	return costNumber + 256 + 32*size
}

// skipCustom skips a prefixed custom type: slacker's exception, a
// StackTraceElement as three strings of DataOutput.writeUTF and an int.
func (s *nippyScan) skipCustom(pos int) (int, nippyKind, error) {
	b, err := s.need(pos, 2)
	if err != nil {
		return 0, 0, err
	}
	if id := int16(binary.BigEndian.Uint16(b)); id != nippySlackerException {
		return 0, 0, fmt.Errorf("transport: nippy: unsupported custom type id %d at offset %d", id, pos-1)
	}
	pos += 2
	size := 0
	for range 3 {
		b, err := s.need(pos, 2)
		if err != nil {
			return 0, 0, err
		}
		n := int(binary.BigEndian.Uint16(b))
		if _, err := s.need(pos+2, n); err != nil {
			return 0, 0, err
		}
		size += n
		pos += 2 + n
	}
	if _, err := s.need(pos, 4); err != nil {
		return 0, 0, err
	}
	n := size + nippyExceptionExtra
	s.cost += costString(n) + roundAlloc(n)
	return pos + 4, nippyString, nil
}
