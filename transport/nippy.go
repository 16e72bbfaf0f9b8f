package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// Nippy is the codec of content type 3, nippy (taoensso.nippy 3.1, as
// slacker's Clojure clients and servers use it): a body is one value as
// nippy's freeze-to-out! writes it, with no header.
//
// Unmarshal also takes a body that starts with nippy's 4-byte header ("NPY"
// and a byte of flags), as nippy's freeze writes it, uncompressed or LZ4
// compressed; it refuses snappy, LZMA2, encryption and flags it does not
// know. A compressed body may hold at most 16 MiB (DefaultMaxBodySize). It
// decodes the types nippy 3.1 writes into the types of [Codec]:
//
//	nil, true, false                 nil, bool
//	byte, short, int, long           int64
//	BigInt, BigInteger               int64; uint64 above math.MaxInt64; beyond, an error
//	float, double                    float64
//	BigDecimal, ratio                float64 (their magnitudes at most 1 KiB)
//	string, keyword, symbol          string: a keyword without its colon, "ns/name"
//	char                             string of one character
//	java.util.Date                   string, RFC 3339 in UTC with milliseconds
//	UUID                             string, in lowercase canonical form
//	:slacker/exception               string, the StackTraceElement as Java prints it:
//	                                 "class.method(file:line)"
//	byte array                       []byte
//	vector, list, seq, set,          []any
//	sorted set, queue, object array
//	map, sorted map                  map[string]any when every key decodes to a
//	                                 string, else map[any]any; a key of a
//	                                 collection or byte array type is an error
//
// Two keys of a map that decode to the same Go value (a keyword :a and a
// string "a") are an error. Metadata is read and dropped. Any other type,
// nesting deeper than 10000, or data after the value is an error.
// Unmarshal decodes into *any, *[]any (a collection or nil),
// *map[string]any, and *int64, *string, *float64 and *bool when the value
// decodes to that type; into any other type through encoding/json, as the
// EDN codec does.
//
// Before decoding, the data is checked to hold exactly one value whose
// every length fits in it, so that no claimed length makes the decoder
// allocate more than the data could fill; the estimate of what decoding
// allocates (see [DecodeBudget]) counts an LZ4 body's uncompressed copy,
// and a body whose uncompressed size alone passes the budget is refused
// before it is uncompressed.
//
// Marshal writes headerless and uncompressed, in nippy's smallest form as
// nippy does: nil, bool, every Go integer type (a long, or a BigInt above
// math.MaxInt64), float32 and float64 (a double; -0.0 stays -0.0, which
// nippy itself writes as 0.0), string, []byte, []any and []string (vectors),
// and map[string]any, map[string]string and map[any]any of those. A nil
// slice or map is nil. A value of any other Go type is written as
// encoding/json encodes it, read back, as the EDN codec does. Map keys are sorted (a map[any]any's by their
// encoding), so that equal values encode the same. A map key that is a
// valid keyword name (as EDN reads it, at most 32767 bytes) is written as
// that keyword, since Clojure callers send keyword keys and expect them
// back; other string keys are written as strings.
var Nippy Codec = nippyCodec{}

type nippyCodec struct{}

func (nippyCodec) ContentType() ContentType { return ContentNippy }

// errNippyType is wrapped by the error of a Marshal of a type nippy can't
// write.
var errNippyType = errors.New("transport: nippy: cannot encode")

func (nippyCodec) Marshal(v any) ([]byte, error) {
	return nippyAppend(make([]byte, 0, 32), v, 0)
}

// Nippy's type ids, the first byte of every value, and the hash id of
// slacker's custom type, which follows nippyPrefixedCustom.
const (
	nippyNil        = 3
	nippyTrue       = 8
	nippyFalse      = 9
	nippyChar       = 10
	nippyStr0       = 34
	nippyStrSm      = 105
	nippyStrMd      = 16
	nippyStrLg      = 13
	nippyKwSm       = 106
	nippyKwMd       = 85
	nippyKwLg       = 14
	nippyKwMdDepr1  = 77 // a kw-md with an int size, nippy 3.0 to 3.1.0
	nippySymSm      = 56
	nippySymMd      = 86
	nippySymLg      = 57
	nippySymMdDepr1 = 78
	nippyBytes0     = 53
	nippyBytesSm    = 7
	nippyBytesMd    = 15
	nippyBytesLg    = 2
	nippyVec0       = 17
	nippyVec2       = 113
	nippyVec3       = 114
	nippyVecSm      = 110
	nippyVecMd      = 69
	nippyVecLg      = 21
	nippyObjectsLg  = 115
	nippySet0       = 18
	nippySetSm      = 111
	nippySetMd      = 32
	nippySetLg      = 23
	nippyMap0       = 19
	nippyMapSm      = 112
	nippyMapMd      = 33
	nippyMapLg      = 30
	nippyList0      = 35
	nippyListSm     = 36
	nippyListMd     = 54
	nippyListLg     = 20
	nippySeq0       = 37
	nippySeqSm      = 38
	nippySeqMd      = 39
	nippySeqLg      = 24
	nippySortedSet  = 28
	nippySortedMap  = 31
	nippyQueue      = 26
	nippyMeta       = 25
	nippyByte       = 40
	nippyShort      = 41
	nippyInteger    = 42
	nippyLongZero   = 0
	nippyLongSm     = 100
	nippyLongMd     = 101
	nippyLongLg     = 102
	nippyLongXl     = 43
	nippyBigInt     = 44
	nippyBigInteger = 45
	nippyFloat      = 60
	nippyDoubleZero = 55
	nippyDouble     = 61
	nippyBigDec     = 62
	nippyRatio      = 70
	nippyDate       = 90
	nippyUUID       = 91

	nippyPrefixedCustom = 82
	nippySerializableSm = 75 // a quarantined Serializable, its class name's size in a byte
	nippySerializableMd = 76 // the same, in a short
	// nippySlackerException is the id of :slacker/exception, a
	// StackTraceElement: (hash :slacker/exception) mod Short/MAX_VALUE.
	nippySlackerException = 29089
)

// Size classes of counts: nippy writes a count of at most nippySmMax in a
// byte, of at most nippyMdMax in a short, and others in an int.
const (
	nippySmMax = math.MaxInt8
	nippyMdMax = math.MaxInt16
)

// nippyMaxDepth is the nesting the nippy codec reads and writes.
const nippyMaxDepth = 10000

// nippyAppend appends v, frozen as nippy's freeze-to-out! would freeze the
// Clojure value it stands for.
func nippyAppend(b []byte, v any, depth int) ([]byte, error) {
	if depth > nippyMaxDepth {
		return b, fmt.Errorf("%w: nested deeper than %d", errNippyType, nippyMaxDepth)
	}
	switch v := v.(type) {
	case nil:
		return append(b, nippyNil), nil
	case bool:
		if v {
			return append(b, nippyTrue), nil
		}
		return append(b, nippyFalse), nil
	case int64:
		return nippyAppendLong(b, v), nil
	case int:
		return nippyAppendLong(b, int64(v)), nil
	case int32:
		return nippyAppendLong(b, int64(v)), nil
	case int16:
		return nippyAppendLong(b, int64(v)), nil
	case int8:
		return nippyAppendLong(b, int64(v)), nil
	case uint64:
		return nippyAppendUint(b, v), nil
	case uint:
		return nippyAppendUint(b, uint64(v)), nil
	case uint32:
		return nippyAppendLong(b, int64(v)), nil
	case uint16:
		return nippyAppendLong(b, int64(v)), nil
	case uint8:
		return nippyAppendLong(b, int64(v)), nil
	case float64:
		return nippyAppendDouble(b, v), nil
	case float32:
		return nippyAppendDouble(b, float64(v)), nil
	case string:
		return nippyAppendBlock(b, v, nippyStr0, nippyStrSm, nippyStrMd, nippyStrLg), nil
	case []byte:
		if v == nil {
			return append(b, nippyNil), nil
		}
		return nippyAppendBlock(b, v, nippyBytes0, nippyBytesSm, nippyBytesMd, nippyBytesLg), nil
	case []any:
		if v == nil {
			return append(b, nippyNil), nil
		}
		b = nippyAppendVecHeader(b, len(v))
		var err error
		for _, x := range v {
			if b, err = nippyAppend(b, x, depth+1); err != nil {
				return b, err
			}
		}
		return b, nil
	case []string:
		if v == nil {
			return append(b, nippyNil), nil
		}
		b = nippyAppendVecHeader(b, len(v))
		for _, s := range v {
			b = nippyAppendBlock(b, s, nippyStr0, nippyStrSm, nippyStrMd, nippyStrLg)
		}
		return b, nil
	case map[string]any:
		if v == nil {
			return append(b, nippyNil), nil
		}
		return nippyAppendStringMap(b, v, depth)
	case map[string]string:
		if v == nil {
			return append(b, nippyNil), nil
		}
		return nippyAppendStringMap(b, v, depth)
	case map[any]any:
		if v == nil {
			return append(b, nippyNil), nil
		}
		return nippyAppendAnyMap(b, v, depth)
	}
	x, err := viaJSON(v)
	if err != nil {
		return b, fmt.Errorf("%w %T: %w", errNippyType, v, err)
	}
	return nippyAppend(b, x, depth)
}

// nippyAppendLong appends n as nippy writes a long: in the smallest of
// zero, a byte, a short, an int and a long.
func nippyAppendLong(b []byte, n int64) []byte {
	switch {
	case n == 0:
		return append(b, nippyLongZero)
	case n >= math.MinInt8 && n <= math.MaxInt8:
		return append(b, nippyLongSm, byte(n))
	case n >= math.MinInt16 && n <= math.MaxInt16:
		return binary.BigEndian.AppendUint16(append(b, nippyLongMd), uint16(n))
	case n >= math.MinInt32 && n <= math.MaxInt32:
		return binary.BigEndian.AppendUint32(append(b, nippyLongLg), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, nippyLongXl), uint64(n))
}

// nippyAppendUint appends n: a long, or beyond math.MaxInt64 a BigInt, whose
// two's complement takes a zero byte and eight.
func nippyAppendUint(b []byte, n uint64) []byte {
	if n <= math.MaxInt64 {
		return nippyAppendLong(b, int64(n))
	}
	b = append(b, nippyBigInt, 0, 0, 0, 9, 0)
	return binary.BigEndian.AppendUint64(b, n)
}

// nippyAppendDouble appends f as a double; positive zero has its own id.
// Nippy writes -0.0 as zero too, which this does not: -0.0 stays -0.0.
func nippyAppendDouble(b []byte, f float64) []byte {
	if math.Float64bits(f) == 0 {
		return append(b, nippyDoubleZero)
	}
	return binary.BigEndian.AppendUint64(append(b, nippyDouble), math.Float64bits(f))
}

// nippyAppendBlock appends a string, keyword or byte array of its ids: the
// empty one (if empty is not 0), or a count in a byte, short or int and the
// bytes.
func nippyAppendBlock[T string | []byte](b []byte, s T, empty, sm, md, lg byte) []byte {
	n := len(s)
	switch {
	case n == 0 && empty != 0:
		return append(b, empty)
	case n <= nippySmMax:
		b = append(b, sm, byte(n))
	case n <= nippyMdMax:
		b = binary.BigEndian.AppendUint16(append(b, md), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, lg), uint32(n))
	}
	return append(b, s...)
}

// nippyAppendVecHeader appends the id and count of a vector of n values.
func nippyAppendVecHeader(b []byte, n int) []byte {
	switch {
	case n == 0:
		return append(b, nippyVec0)
	case n == 2:
		return append(b, nippyVec2)
	case n == 3:
		return append(b, nippyVec3)
	}
	return nippyAppendCount(b, n, nippyVecSm, nippyVecMd, nippyVecLg)
}

// nippyAppendMapHeader appends the id and count of a map of n pairs.
func nippyAppendMapHeader(b []byte, n int) []byte {
	if n == 0 {
		return append(b, nippyMap0)
	}
	return nippyAppendCount(b, n, nippyMapSm, nippyMapMd, nippyMapLg)
}

// nippyAppendCount appends the id of n's size class and n.
func nippyAppendCount(b []byte, n int, sm, md, lg byte) []byte {
	switch {
	case n <= nippySmMax:
		return append(b, sm, byte(n))
	case n <= nippyMdMax:
		return binary.BigEndian.AppendUint16(append(b, md), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, lg), uint32(n))
}

// nippyAppendKey appends a map key: a keyword when k is a valid keyword
// name that fits a kw-md, else a string.
func nippyAppendKey(b []byte, k string) []byte {
	if len(k) <= nippyMdMax && validEDNName(k) {
		return nippyAppendBlock(b, k, 0, nippyKwSm, nippyKwMd, nippyKwLg)
	}
	return nippyAppendBlock(b, k, nippyStr0, nippyStrSm, nippyStrMd, nippyStrLg)
}

// nippyAppendStringMap appends a map keyed by strings, its keys sorted.
func nippyAppendStringMap[V any](b []byte, m map[string]V, depth int) ([]byte, error) {
	b = nippyAppendMapHeader(b, len(m))
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var err error
	for _, k := range keys {
		b = nippyAppendKey(b, k)
		if b, err = nippyAppend(b, any(m[k]), depth+1); err != nil {
			return b, err
		}
	}
	return b, nil
}

// nippyAppendAnyMap appends a map[any]any, its pairs sorted by the
// encoding of their keys.
func nippyAppendAnyMap(b []byte, m map[any]any, depth int) ([]byte, error) {
	b = nippyAppendMapHeader(b, len(m))
	type pair struct {
		key []byte
		val any
	}
	pairs := make([]pair, 0, len(m))
	for k, v := range m {
		var kb []byte
		var err error
		if s, ok := k.(string); ok {
			kb = nippyAppendKey(nil, s)
		} else if kb, err = nippyAppend(nil, k, depth+1); err != nil {
			return b, err
		}
		pairs = append(pairs, pair{kb, v})
	}
	slices.SortFunc(pairs, func(x, y pair) int { return bytes.Compare(x.key, y.key) })
	var err error
	for _, p := range pairs {
		b = append(b, p.key...)
		if b, err = nippyAppend(b, p.val, depth+1); err != nil {
			return b, err
		}
	}
	return b, nil
}
