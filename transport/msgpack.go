package transport

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// Msgpack is the codec of content type 16, a code slacker never assigned. It
// encodes with github.com/vmihailenco/msgpack/v5, integers in their smallest
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

func (msgpackCodec) Marshal(v any) ([]byte, error) {
	e := msgpackEncoders.Get().(*msgpackEncoder)
	e.buf.Reset()
	err := e.enc.Encode(v)
	var out []byte
	if err == nil {
		out = bytes.Clone(e.buf.Bytes())
	}
	if e.buf.Cap() <= maxPooledBuffer {
		e.buf.Reset()
		msgpackEncoders.Put(e)
	}
	return out, err
}

// msgpackDecoder is a decoder reading its own bytes.Reader; they are pooled.
// The reader is an io.ByteScanner, so the decoder reads it directly and
// never reads ahead.
type msgpackDecoder struct {
	r   bytes.Reader
	dec *msgpack.Decoder
}

var msgpackDecoders = sync.Pool{New: func() any {
	return &msgpackDecoder{dec: msgpack.NewDecoder(nil)}
}}

func (msgpackCodec) Unmarshal(data []byte, v any) error {
	if err := msgpackCheck(data); err != nil {
		return err
	}
	d := msgpackDecoders.Get().(*msgpackDecoder)
	defer func() {
		d.r.Reset(nil)
		d.dec.Reset(&d.r)
		msgpackDecoders.Put(d)
	}()
	d.r.Reset(data)
	d.dec.Reset(&d.r)
	var err error
	switch v := v.(type) {
	case *any:
		if v == nil {
			return errNilTarget(v)
		}
		*v, err = d.value()
	case *[]any:
		if v == nil {
			return errNilTarget(v)
		}
		var x any
		if x, err = d.value(); err == nil {
			switch x := x.(type) {
			case nil:
				*v = nil
			case []any:
				*v = x
			default:
				err = fmt.Errorf("msgpack: cannot decode %T into []any", x)
			}
		}
	case *map[string]any:
		if v == nil {
			return errNilTarget(v)
		}
		var x any
		if x, err = d.value(); err == nil {
			switch x := x.(type) {
			case nil:
				*v = nil
			case map[string]any:
				*v = x
			default:
				err = fmt.Errorf("msgpack: cannot decode %T into map[string]any", x)
			}
		}
	default:
		err = d.dec.Decode(v)
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

func errNilTarget(v any) error {
	return fmt.Errorf("msgpack: Unmarshal(nil %T)", v)
}

// value decodes one value into the types [Codec] lists. msgpackCheck has
// bounded the data's lengths and nesting.
func (d *msgpackDecoder) value() (any, error) {
	c, err := d.dec.PeekCode()
	if err != nil {
		return nil, err
	}
	switch {
	case c == msgpcode.Nil:
		return nil, d.dec.DecodeNil()
	case c == msgpcode.False || c == msgpcode.True:
		return d.dec.DecodeBool()
	case c == msgpcode.Uint64:
		n, err := d.dec.DecodeUint64()
		if n <= math.MaxInt64 {
			return int64(n), err
		}
		return n, err
	case msgpcode.IsFixedNum(c), c >= msgpcode.Uint8 && c <= msgpcode.Uint32, c >= msgpcode.Int8 && c <= msgpcode.Int64:
		return d.dec.DecodeInt64()
	case c == msgpcode.Float || c == msgpcode.Double:
		return d.dec.DecodeFloat64()
	case msgpcode.IsString(c):
		return d.dec.DecodeString()
	case msgpcode.IsBin(c):
		return d.dec.DecodeBytes()
	case msgpcode.IsFixedArray(c), c == msgpcode.Array16, c == msgpcode.Array32:
		n, err := d.dec.DecodeArrayLen()
		if err != nil {
			return nil, err
		}
		a := make([]any, n)
		for i := range a {
			if a[i], err = d.value(); err != nil {
				return nil, err
			}
		}
		return a, nil
	case msgpcode.IsFixedMap(c), c == msgpcode.Map16, c == msgpcode.Map32:
		return d.mapValue()
	case msgpcode.IsExt(c):
		return nil, fmt.Errorf("msgpack: extension values are not supported")
	}
	return nil, fmt.Errorf("msgpack: invalid code %#x", c)
}

// mapValue decodes a map: a map[string]any if all its keys are strings,
// otherwise a map[any]any.
func (d *msgpackDecoder) mapValue() (any, error) {
	n, err := d.dec.DecodeMapLen()
	if err != nil {
		return nil, err
	}
	m := make(map[string]any, n)
	var mm map[any]any
	for range n {
		k, err := d.value()
		if err != nil {
			return nil, err
		}
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		if s, ok := k.(string); ok && mm == nil {
			m[s] = v
			continue
		}
		switch k.(type) {
		case []any, map[string]any, map[any]any, []byte:
			return nil, fmt.Errorf("msgpack: map key of type %T", k)
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
		return mm, nil
	}
	return m, nil
}

// msgpackMaxDepth is the nesting the msgpack codec accepts, as encoding/json
// accepts for JSON.
const msgpackMaxDepth = 10000

var errMsgpackShort = fmt.Errorf("msgpack: %w", io.ErrUnexpectedEOF)

// msgpackCheck reports whether data holds exactly one well-formed msgpack
// value, nested at most msgpackMaxDepth deep, whose every length fits in
// data. It allocates nothing.
func msgpackCheck(data []byte) error {
	if len(data) == 0 {
		return errMsgpackShort
	}
	n, err := msgpackSkip(data, 0)
	if err != nil {
		return err
	}
	if n != len(data) {
		return fmt.Errorf("msgpack: %w", errTrailingData)
	}
	return nil
}

// msgpackSkip returns the size of the value data starts with.
func msgpackSkip(data []byte, depth int) (int, error) {
	if len(data) == 0 {
		return 0, errMsgpackShort
	}
	if depth > msgpackMaxDepth {
		return 0, fmt.Errorf("msgpack: nested deeper than %d", msgpackMaxDepth)
	}
	c := data[0]
	// length reads the big-endian length of size bytes after the code.
	length := func(size int) (int, error) {
		if len(data) < 1+size {
			return 0, errMsgpackShort
		}
		var n uint64
		for _, b := range data[1 : 1+size] {
			n = n<<8 | uint64(b)
		}
		return int(n), nil
	}
	// block is a code, a length of size bytes and that many bytes.
	block := func(size, extra int) (int, error) {
		n, err := length(size)
		if err != nil {
			return 0, err
		}
		total := 1 + size + extra + n
		if total > len(data) {
			return 0, errMsgpackShort
		}
		return total, nil
	}
	// items is a code, a header of size bytes and n values.
	items := func(size, n int) (int, error) {
		pos := 1 + size
		if n > len(data)-pos { // every value takes a byte at least
			return 0, errMsgpackShort
		}
		for range n {
			k, err := msgpackSkip(data[pos:], depth+1)
			if err != nil {
				return 0, err
			}
			pos += k
		}
		return pos, nil
	}
	fixed := func(size int) (int, error) {
		if len(data) < 1+size {
			return 0, errMsgpackShort
		}
		return 1 + size, nil
	}
	switch {
	case msgpcode.IsFixedNum(c), c == msgpcode.Nil, c == msgpcode.False, c == msgpcode.True:
		return 1, nil
	case msgpcode.IsFixedString(c):
		return block(0, int(c&msgpcode.FixedStrMask))
	case msgpcode.IsFixedArray(c):
		return items(0, int(c&msgpcode.FixedArrayMask))
	case msgpcode.IsFixedMap(c):
		return items(0, 2*int(c&msgpcode.FixedMapMask))
	}
	switch c {
	case msgpcode.Uint8, msgpcode.Int8:
		return fixed(1)
	case msgpcode.Uint16, msgpcode.Int16:
		return fixed(2)
	case msgpcode.Uint32, msgpcode.Int32, msgpcode.Float:
		return fixed(4)
	case msgpcode.Uint64, msgpcode.Int64, msgpcode.Double:
		return fixed(8)
	case msgpcode.Str8, msgpcode.Bin8:
		return block(1, 0)
	case msgpcode.Str16, msgpcode.Bin16:
		return block(2, 0)
	case msgpcode.Str32, msgpcode.Bin32:
		return block(4, 0)
	case msgpcode.Array16, msgpcode.Array32, msgpcode.Map16, msgpcode.Map32:
		size := 2
		if c == msgpcode.Array32 || c == msgpcode.Map32 {
			size = 4
		}
		n, err := length(size)
		if err != nil {
			return 0, err
		}
		if c == msgpcode.Map16 || c == msgpcode.Map32 {
			if n > (len(data)-1-size)/2 {
				return 0, errMsgpackShort
			}
			n *= 2
		}
		return items(size, n)
	case msgpcode.FixExt1, msgpcode.FixExt2, msgpcode.FixExt4, msgpcode.FixExt8, msgpcode.FixExt16:
		return fixed(1 + 1<<(c-msgpcode.FixExt1)) // type byte and 1 to 16 data bytes
	case msgpcode.Ext8:
		return block(1, 1)
	case msgpcode.Ext16:
		return block(2, 1)
	case msgpcode.Ext32:
		return block(4, 1)
	}
	return 0, fmt.Errorf("msgpack: invalid code %#x", c)
}
