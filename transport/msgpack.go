package transport

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// Msgpack is the codec of content type 16, a code slacker never assigned. It
// encodes as github.com/vmihailenco/msgpack/v5 does (by hand for the
// types of [Codec], with the library for others), integers in their smallest
// form, structs as maps keyed by field name, and map[string]any with its keys
// sorted (as JSON does), so equal values encode the same. See [Codec] for the types it
// decodes into; a msgpack extension value can't be decoded into them.
//
// Before decoding, the data is checked to hold exactly one value, nested at
// most 10000 deep, whose every length fits in the data, so that no claimed
// length makes the library allocate more than the data could fill.
var Msgpack Codec = msgpackCodec{}

type msgpackCodec struct{}

func (msgpackCodec) ContentType() ContentType { return ContentMsgpack }

// msgpackEncoder is an encoder writing into its own buffer; they are pooled.
type msgpackEncoder struct {
	buf bytes.Buffer
	enc *msgpack.Encoder
}

var msgpackEncoders = sync.Pool{New: func() any {
	e := new(msgpackEncoder)
	e.enc = msgpack.NewEncoder(&e.buf)
	e.enc.UseCompactInts(true)
	e.enc.SetSortMapKeys(true)
	return e
}}

func (m msgpackCodec) Marshal(v any) ([]byte, error) {
	b, err := m.appendMarshal(make([]byte, 0, 32), v)
	if err != nil {
		return nil, err
	}
	return b, nil
}

func (msgpackCodec) appendMarshal(dst []byte, v any) ([]byte, error) {
	if b, ok := msgpackAppend(dst, v, 0); ok {
		return b, nil
	}
	e := msgpackEncoders.Get().(*msgpackEncoder)
	e.buf.Reset()
	err := e.enc.Encode(v)
	if err == nil {
		dst = append(dst, e.buf.Bytes()...)
	}
	if e.buf.Cap() <= maxPooledBuffer {
		e.buf.Reset()
		msgpackEncoders.Put(e)
	}
	return dst, err
}

// msgpackAppend appends v encoded as the library encodes it, for the
// types calls use most: nil, booleans, numbers, strings, byte slices,
// []any and map[string]any of those. It reports false for any other type,
// which the library encodes.
func msgpackAppend(b []byte, v any, depth int) ([]byte, bool) {
	if depth > msgpackMaxDepth {
		return b, false
	}
	switch v := v.(type) {
	case nil:
		return append(b, msgpcode.Nil), true
	case bool:
		if v {
			return append(b, msgpcode.True), true
		}
		return append(b, msgpcode.False), true
	case int64:
		return msgpackAppendInt(b, v), true
	case int:
		return msgpackAppendInt(b, int64(v)), true
	case int32:
		return msgpackAppendInt(b, int64(v)), true
	case int16:
		return msgpackAppendInt(b, int64(v)), true
	case int8:
		return msgpackAppendInt(b, int64(v)), true
	case uint64:
		return msgpackAppendUint(b, v), true
	case uint:
		return msgpackAppendUint(b, uint64(v)), true
	case uint32:
		return msgpackAppendUint(b, uint64(v)), true
	case uint16:
		return msgpackAppendUint(b, uint64(v)), true
	case uint8:
		return msgpackAppendUint(b, uint64(v)), true
	case float64:
		return binary.BigEndian.AppendUint64(append(b, msgpcode.Double), math.Float64bits(v)), true
	case float32:
		return binary.BigEndian.AppendUint32(append(b, msgpcode.Float), math.Float32bits(v)), true
	case string:
		return append(msgpackAppendLen(b, len(v), msgpcode.FixedStrLow, 32, msgpcode.Str8, msgpcode.Str16, msgpcode.Str32), v...), true
	case []byte:
		if v == nil {
			return append(b, msgpcode.Nil), true
		}
		return append(msgpackAppendLen(b, len(v), 0, 0, msgpcode.Bin8, msgpcode.Bin16, msgpcode.Bin32), v...), true
	case []any:
		if v == nil {
			return append(b, msgpcode.Nil), true
		}
		b = msgpackAppendLen(b, len(v), msgpcode.FixedArrayLow, 16, 0, msgpcode.Array16, msgpcode.Array32)
		for _, x := range v {
			var ok bool
			if b, ok = msgpackAppend(b, x, depth+1); !ok {
				return b, false
			}
		}
		return b, true
	case map[string]any:
		if v == nil {
			return append(b, msgpcode.Nil), true
		}
		b = msgpackAppendLen(b, len(v), msgpcode.FixedMapLow, 16, 0, msgpcode.Map16, msgpcode.Map32)
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			b, _ = msgpackAppend(b, k, depth+1)
			var ok bool
			if b, ok = msgpackAppend(b, v[k], depth+1); !ok {
				return b, false
			}
		}
		return b, true
	}
	return b, false
}

// msgpackAppendInt appends n in its smallest form.
func msgpackAppendInt(b []byte, n int64) []byte {
	switch {
	case n >= 0:
		return msgpackAppendUint(b, uint64(n))
	case n >= -32:
		return append(b, byte(n)) // negative fixint
	case n >= math.MinInt8:
		return append(b, msgpcode.Int8, byte(n))
	case n >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(b, msgpcode.Int16), uint16(n))
	case n >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(b, msgpcode.Int32), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, msgpcode.Int64), uint64(n))
}

// msgpackAppendUint appends n in its smallest form.
func msgpackAppendUint(b []byte, n uint64) []byte {
	switch {
	case n <= math.MaxInt8:
		return append(b, byte(n)) // positive fixint
	case n <= math.MaxUint8:
		return append(b, msgpcode.Uint8, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, msgpcode.Uint16), uint16(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, msgpcode.Uint32), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, msgpcode.Uint64), n)
}

// msgpackAppendLen appends the header of a string, binary, array or map
// of n: the fixed form, code fixed | n, when n < fixedMax; else the
// form with an 8-bit length (if code8 is not 0), a 16-bit or a 32-bit one.
func msgpackAppendLen(b []byte, n int, fixed byte, fixedMax int, code8, code16, code32 byte) []byte {
	switch {
	case n < fixedMax:
		return append(b, fixed|byte(n))
	case code8 != 0 && n <= math.MaxUint8:
		return append(b, code8, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, code16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, code32), uint32(n))
}
