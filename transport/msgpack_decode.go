package transport

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// msgpackDecoder is the library's decoder reading its own bytes.Reader,
// for the types msgpackValue does not decode into; they are pooled. The
// reader is an io.ByteScanner, so the decoder reads it directly and never
// reads ahead.
type msgpackDecoder struct {
	r   bytes.Reader
	dec *msgpack.Decoder
}

var msgpackDecoders = sync.Pool{New: func() any {
	return &msgpackDecoder{dec: msgpack.NewDecoder(nil)}
}}

func (msgpackCodec) Unmarshal(data []byte, v any) error {
	if _, err := msgpackCheck(data); err != nil {
		return err
	}
	if ok, err := decodeInto("msgpack", v,
		func() (any, error) { x, _, err := msgpackValue(data); return x, err },
		func() ([]any, error) { return msgpackArgs(data) }); ok {
		return err
	}
	d := msgpackDecoders.Get().(*msgpackDecoder)
	d.r.Reset(data)
	d.dec.Reset(&d.r)
	err := d.dec.Decode(v)
	d.r.Reset(nil)
	d.dec.Reset(&d.r)
	msgpackDecoders.Put(d)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

func (msgpackCodec) decodeArgs(data []byte, budget int) ([]any, error) {
	cost, err := msgpackCheck(data)
	if err != nil {
		return nil, err
	}
	if cost > budget {
		return nil, tooComplex(cost, budget)
	}
	return msgpackArgs(data)
}

// msgpackArgs decodes data, checked by msgpackCheck, into a []any: the
// arguments of a call, decoded without boxing the slice.
func msgpackArgs(data []byte) ([]any, error) {
	switch c := data[0]; {
	case c == msgpcode.Nil:
		return nil, nil
	case msgpcode.IsFixedArray(c), c == msgpcode.Array16, c == msgpcode.Array32:
		hdr, n := msgpackArrayHeader(data)
		a, _, err := msgpackArray(data, hdr, n)
		return a, err
	}
	x, _, err := msgpackValue(data)
	if err != nil {
		return nil, err
	}
	return asArgs("msgpack", x)
}

// msgpackValue decodes the value data starts with into the types [Codec]
// lists, and returns it with its size. msgpackCheck has checked data: its
// lengths fit and its nesting is bounded.
func msgpackValue(data []byte) (any, int, error) {
	c := data[0]
	// be reads the big-endian unsigned integer of size bytes after the code.
	be := func(size int) uint64 {
		var n uint64
		for _, b := range data[1 : 1+size] {
			n = n<<8 | uint64(b)
		}
		return n
	}
	switch {
	case c <= msgpcode.PosFixedNumHigh:
		return int64(c), 1, nil
	case c >= msgpcode.NegFixedNumLow:
		return int64(int8(c)), 1, nil
	case msgpcode.IsFixedString(c):
		n := int(c & msgpcode.FixedStrMask)
		return string(data[1 : 1+n]), 1 + n, nil
	case msgpcode.IsFixedArray(c):
		return msgpackArrayValue(data)
	case msgpcode.IsFixedMap(c):
		return msgpackMap(data, 1, int(c&msgpcode.FixedMapMask))
	}
	switch c {
	case msgpcode.Nil:
		return nil, 1, nil
	case msgpcode.False:
		return false, 1, nil
	case msgpcode.True:
		return true, 1, nil
	case msgpcode.Uint8, msgpcode.Uint16, msgpcode.Uint32, msgpcode.Uint64:
		size := 1 << (c - msgpcode.Uint8)
		n := be(size)
		if n > math.MaxInt64 {
			return n, 1 + size, nil
		}
		return int64(n), 1 + size, nil
	case msgpcode.Int8:
		return int64(int8(data[1])), 2, nil
	case msgpcode.Int16:
		return int64(int16(be(2))), 3, nil
	case msgpcode.Int32:
		return int64(int32(be(4))), 5, nil
	case msgpcode.Int64:
		return int64(be(8)), 9, nil
	case msgpcode.Float:
		return float64(math.Float32frombits(uint32(be(4)))), 5, nil
	case msgpcode.Double:
		return math.Float64frombits(be(8)), 9, nil
	case msgpcode.Str8, msgpcode.Str16, msgpcode.Str32:
		size := msgpackLenSize(c - msgpcode.Str8)
		n := int(be(size))
		return string(data[1+size : 1+size+n]), 1 + size + n, nil
	case msgpcode.Bin8, msgpcode.Bin16, msgpcode.Bin32:
		size := msgpackLenSize(c - msgpcode.Bin8)
		n := int(be(size))
		return bytes.Clone(data[1+size : 1+size+n]), 1 + size + n, nil
	case msgpcode.Array16, msgpcode.Array32:
		return msgpackArrayValue(data)
	case msgpcode.Map16:
		return msgpackMap(data, 3, int(be(2)))
	case msgpcode.Map32:
		return msgpackMap(data, 5, int(be(4)))
	}
	if msgpcode.IsExt(c) {
		return nil, 0, fmt.Errorf("msgpack: extension values are not supported")
	}
	return nil, 0, fmt.Errorf("msgpack: invalid code %#x", c)
}

// msgpackInt decodes data when it is one msgpack integer that fits an
// int64, without boxing it: a call's deadline.
func msgpackInt(data []byte) (int64, bool) {
	if len(data) == 0 {
		return 0, false
	}
	c := data[0]
	if len(data) == 1 && (c <= msgpcode.PosFixedNumHigh || c >= msgpcode.NegFixedNumLow) {
		return int64(int8(c)), true // a positive or negative fixint
	}
	var size int
	switch c {
	case msgpcode.Uint8, msgpcode.Int8:
		size = 1
	case msgpcode.Uint16, msgpcode.Int16:
		size = 2
	case msgpcode.Uint32, msgpcode.Int32:
		size = 4
	case msgpcode.Uint64, msgpcode.Int64:
		size = 8
	default:
		return 0, false
	}
	if len(data) != 1+size {
		return 0, false
	}
	var u uint64
	for _, b := range data[1:] {
		u = u<<8 | uint64(b)
	}
	switch c {
	case msgpcode.Int8:
		return int64(int8(u)), true
	case msgpcode.Int16:
		return int64(int16(u)), true
	case msgpcode.Int32:
		return int64(int32(u)), true
	case msgpcode.Uint64:
		return int64(u), u <= math.MaxInt64
	}
	return int64(u), true // Int64, or an unsigned integer of 32 bits at most
}

// msgpackLenSize is the size of the length of str8/bin8 (0), 16 (1) and
// 32 (2).
func msgpackLenSize(i byte) int { return 1 << i }

// msgpackArrayHeader returns the size of the header of the array data
// starts with, and its count of values.
func msgpackArrayHeader(data []byte) (hdr, n int) {
	switch c := data[0]; c {
	case msgpcode.Array16:
		return 3, int(binary.BigEndian.Uint16(data[1:]))
	case msgpcode.Array32:
		return 5, int(binary.BigEndian.Uint32(data[1:]))
	default:
		return 1, int(c & msgpcode.FixedArrayMask)
	}
}

// msgpackArrayValue is msgpackValue for an array.
func msgpackArrayValue(data []byte) (any, int, error) {
	hdr, n := msgpackArrayHeader(data)
	a, size, err := msgpackArray(data, hdr, n)
	if err != nil {
		return nil, 0, err
	}
	return a, size, nil
}

// msgpackArray decodes the n values of an array whose header is hdr bytes.
func msgpackArray(data []byte, hdr, n int) ([]any, int, error) {
	a := make([]any, n)
	pos := hdr
	for i := range a {
		v, k, err := msgpackValue(data[pos:])
		if err != nil {
			return nil, 0, err
		}
		a[i] = v
		pos += k
	}
	return a, pos, nil
}

// msgpackMap decodes the n pairs of a map whose header is hdr bytes: a
// map[string]any if all its keys are strings, otherwise a map[any]any.
func msgpackMap(data []byte, hdr, n int) (any, int, error) {
	m := make(map[string]any, n)
	var mm map[any]any
	pos := hdr
	for range n {
		k, size, err := msgpackValue(data[pos:])
		if err != nil {
			return nil, 0, err
		}
		pos += size
		v, size, err := msgpackValue(data[pos:])
		if err != nil {
			return nil, 0, err
		}
		pos += size
		if s, ok := k.(string); ok && mm == nil {
			m[s] = v
			continue
		}
		switch k.(type) {
		case []any, map[string]any, map[any]any, []byte:
			return nil, 0, fmt.Errorf("msgpack: map key of type %T", k)
		}
		if mm == nil {
			mm = make(map[any]any, n)
			for s, x := range m {
				mm[s] = x
			}
		}
		mm[k] = v
	}
	if mm != nil {
		return mm, pos, nil
	}
	return m, pos, nil
}

// msgpackMaxDepth is the nesting the msgpack codec accepts, as encoding/json
// accepts for JSON.
const msgpackMaxDepth = 10000

var errMsgpackShort = fmt.Errorf("msgpack: %w", io.ErrUnexpectedEOF)

// msgpackCheck reports whether data holds exactly one well-formed msgpack
// value, nested at most msgpackMaxDepth deep, whose every length fits in
// data, and returns the estimate of what decoding it allocates (see
// budget.go). It allocates nothing.
func msgpackCheck(data []byte) (int, error) {
	if len(data) == 0 {
		return 0, errMsgpackShort
	}
	n, cost, err := msgpackSkip(data, 0)
	if err != nil {
		return 0, err
	}
	if n != len(data) {
		return 0, fmt.Errorf("msgpack: %w", errTrailingData)
	}
	return cost, nil
}

// msgpackSkip returns the size of the value data starts with, and the
// estimate of what decoding it allocates.
func msgpackSkip(data []byte, depth int) (size, cost int, err error) {
	if len(data) == 0 {
		return 0, 0, errMsgpackShort
	}
	if depth > msgpackMaxDepth {
		return 0, 0, fmt.Errorf("msgpack: nested deeper than %d", msgpackMaxDepth)
	}
	c := data[0]
	switch {
	case msgpcode.IsFixedNum(c), c == msgpcode.Nil, c == msgpcode.False, c == msgpcode.True:
		return 1, 0, nil
	case msgpcode.IsFixedString(c):
		return msgpackSkipBlock(data, 0, int(c&msgpcode.FixedStrMask), costString)
	case msgpcode.IsFixedArray(c):
		return msgpackSkipItems(data, 0, int(c&msgpcode.FixedArrayMask), false, depth)
	case msgpcode.IsFixedMap(c):
		return msgpackSkipItems(data, 0, 2*int(c&msgpcode.FixedMapMask), true, depth)
	}
	switch c {
	case msgpcode.Uint8, msgpcode.Int8:
		return msgpackSkipFixed(data, 1, costNumber)
	case msgpcode.Uint16, msgpcode.Int16:
		return msgpackSkipFixed(data, 2, costNumber)
	case msgpcode.Uint32, msgpcode.Int32, msgpcode.Float:
		return msgpackSkipFixed(data, 4, costNumber)
	case msgpcode.Uint64, msgpcode.Int64, msgpcode.Double:
		return msgpackSkipFixed(data, 8, costNumber)
	case msgpcode.Str8:
		return msgpackSkipBlock(data, 1, 0, costString)
	case msgpcode.Str16:
		return msgpackSkipBlock(data, 2, 0, costString)
	case msgpcode.Str32:
		return msgpackSkipBlock(data, 4, 0, costString)
	case msgpcode.Bin8:
		return msgpackSkipBlock(data, 1, 0, costBytes)
	case msgpcode.Bin16:
		return msgpackSkipBlock(data, 2, 0, costBytes)
	case msgpcode.Bin32:
		return msgpackSkipBlock(data, 4, 0, costBytes)
	case msgpcode.Array16, msgpcode.Array32, msgpcode.Map16, msgpcode.Map32:
		return msgpackSkipCollection(data, depth)
	case msgpcode.FixExt1, msgpcode.FixExt2, msgpcode.FixExt4, msgpcode.FixExt8, msgpcode.FixExt16:
		return msgpackSkipFixed(data, 1+1<<(c-msgpcode.FixExt1), 0) // type byte and 1 to 16 data bytes
	case msgpcode.Ext8:
		return msgpackSkipBlock(data, 1, 1, noCost)
	case msgpcode.Ext16:
		return msgpackSkipBlock(data, 2, 1, noCost)
	case msgpcode.Ext32:
		return msgpackSkipBlock(data, 4, 1, noCost)
	}
	return 0, 0, fmt.Errorf("msgpack: invalid code %#x", c)
}

// msgpackLength reads the big-endian length of size bytes after the code
// data starts with.
func msgpackLength(data []byte, size int) (int, error) {
	if len(data) < 1+size {
		return 0, errMsgpackShort
	}
	var n uint64
	for _, b := range data[1 : 1+size] {
		n = n<<8 | uint64(b)
	}
	if n > uint64(len(data)) {
		return 0, errMsgpackShort // and int(n) might not fit
	}
	return int(n), nil
}

// msgpackSkipFixed skips a code and size bytes, of the given cost.
func msgpackSkipFixed(data []byte, size, cost int) (int, int, error) {
	if len(data) < 1+size {
		return 0, 0, errMsgpackShort
	}
	return 1 + size, cost, nil
}

// msgpackSkipBlock skips a code, a length of size bytes, extra bytes and
// that many bytes, whose cost is given the bytes after the length.
func msgpackSkipBlock(data []byte, size, extra int, cost func(int) int) (int, int, error) {
	n, err := msgpackLength(data, size)
	if err != nil {
		return 0, 0, err
	}
	total := 1 + size + extra + n
	if total > len(data) {
		return 0, 0, errMsgpackShort
	}
	return total, cost(extra + n), nil
}

// msgpackSkipCollection skips an array or a map of 16 or 32 bits.
func msgpackSkipCollection(data []byte, depth int) (int, int, error) {
	c := data[0]
	size := 2
	if c == msgpcode.Array32 || c == msgpcode.Map32 {
		size = 4
	}
	n, err := msgpackLength(data, size)
	if err != nil {
		return 0, 0, err
	}
	isMap := c == msgpcode.Map16 || c == msgpcode.Map32
	if isMap {
		if n > (len(data)-1-size)/2 {
			return 0, 0, errMsgpackShort
		}
		n *= 2
	}
	return msgpackSkipItems(data, size, n, isMap, depth)
}

// msgpackSkipItems skips a code, a header of size bytes and n values: an
// array's elements, or a map's keys and values when pairs.
func msgpackSkipItems(data []byte, size, n int, pairs bool, depth int) (int, int, error) {
	pos := 1 + size
	if n > len(data)-pos { // every value takes a byte at least
		return 0, 0, errMsgpackShort
	}
	var cost int
	if pairs {
		cost = costMapOf(n / 2)
	} else {
		cost = costArray(n)
	}
	stringKeys := true
	for i := range n {
		k, kc, err := msgpackSkip(data[pos:], depth+1)
		if err != nil {
			return 0, 0, err
		}
		if pairs && i%2 == 0 && !msgpackIsString(data[pos]) {
			stringKeys = false
		}
		pos += k
		cost += kc
	}
	if !stringKeys {
		cost += costMapOf(n / 2) // made again as a map[any]any
	}
	return pos, cost, nil
}

// noCost is the cost of an extension value, which is not decoded.
func noCost(int) int { return 0 }

// msgpackIsString reports whether c is the code of a string.
func msgpackIsString(c byte) bool {
	return msgpcode.IsFixedString(c) || c == msgpcode.Str8 || c == msgpcode.Str16 || c == msgpcode.Str32
}
