package transport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"sync"
)

// JSON is the codec of content type 1, slacker's "json". It encodes as
// encoding/json does (by hand for the types of [Codec], with the library
// for others), without escaping HTML characters and without a trailing
// newline; NaN and infinities can't be encoded. See [Codec] for the types
// it decodes into.
var JSON Codec = jsonCodec{}

type jsonCodec struct{}

func (jsonCodec) ContentType() ContentType { return ContentJSON }

// jsonEncoder is an encoder writing into its own buffer; they are pooled.
type jsonEncoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

var jsonEncoders = sync.Pool{New: func() any {
	e := new(jsonEncoder)
	e.enc = json.NewEncoder(&e.buf)
	e.enc.SetEscapeHTML(false)
	return e
}}

// maxPooledBuffer is the largest encoding buffer a codec returns to its pool;
// a larger one is left to the garbage collector.
const maxPooledBuffer = 64 << 10

var mapAnyAnyType = reflect.TypeFor[map[any]any]()

func (j jsonCodec) Marshal(v any) ([]byte, error) {
	b, err := j.appendMarshal(nil, v)
	if err != nil {
		return nil, err
	}
	return b, nil
}

func (jsonCodec) appendMarshal(dst []byte, v any) ([]byte, error) {
	if b, ok := jsonAppend(dst, v, 0); ok {
		return b, nil
	}
	e := jsonEncoders.Get().(*jsonEncoder)
	defer func() {
		if e.buf.Cap() <= maxPooledBuffer {
			e.buf.Reset()
			jsonEncoders.Put(e)
		}
	}()
	e.buf.Reset()
	err := e.enc.Encode(v)
	if err != nil && unsupportedMapAnyAny(err) {
		// Maps decoded from msgpack may have non-string keys, which
		// encoding/json does not take: give it string keys.
		var conv any
		if conv, err = jsonKeys(v, 0); err == nil {
			e.buf.Reset()
			err = e.enc.Encode(conv)
		}
	}
	if err != nil {
		return dst, err
	}
	b := e.buf.Bytes()
	return append(dst, b[:len(b)-1]...), nil // without Encode's newline
}

// unsupportedMapAnyAny reports whether err is encoding/json refusing a
// map[any]any. (A function of its own, so that the target errors.As needs
// is allocated only for an error.)
func unsupportedMapAnyAny(err error) bool {
	var ute *json.UnsupportedTypeError
	return errors.As(err, &ute) && ute.Type == mapAnyAnyType
}

// jsonMaxDepth is the nesting the JSON codec accepts, as encoding/json.
const jsonMaxDepth = 10000

// jsonKeys returns v with every map[any]any turned into a map[string]any,
// its keys written as JSON writes map keys of their types: strings as they
// are, numbers and booleans in decimal text.
func jsonKeys(v any, depth int) (any, error) {
	if depth > jsonMaxDepth {
		return nil, fmt.Errorf("transport: json: nested deeper than %d", jsonMaxDepth)
	}
	switch v := v.(type) {
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			var err error
			if out[i], err = jsonKeys(e, depth+1); err != nil {
				return nil, err
			}
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			var err error
			if out[k], err = jsonKeys(e, depth+1); err != nil {
				return nil, err
			}
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			var key string
			switch k := k.(type) {
			case string:
				key = k
			case int64:
				key = strconv.FormatInt(k, 10)
			case uint64:
				key = strconv.FormatUint(k, 10)
			case float64:
				key = strconv.FormatFloat(k, 'g', -1, 64)
			case bool:
				key = strconv.FormatBool(k)
			default:
				return nil, fmt.Errorf("transport: json: map key of type %T", k)
			}
			var err error
			if out[key], err = jsonKeys(e, depth+1); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return v, nil
}

// errTrailingData is wrapped by the error of an Unmarshal whose data holds
// more than one value.
var errTrailingData = errors.New("trailing data after the value")

// errJSONRange is wrapped by the error of a JSON number the decoded types
// can't hold.
var errJSONRange = errors.New("transport: json: number out of range")

func (jsonCodec) Unmarshal(data []byte, v any) error {
	if ok, err := decodeInto("transport: json", v,
		func() (any, error) { return jsonDecode(data, -1) },
		func() ([]any, error) { return jsonArgs(data, -1) }); ok {
		return err
	}
	return json.Unmarshal(data, v)
}

func (jsonCodec) decodeArgs(data []byte, budget int) ([]any, error) {
	return jsonArgs(data, budget)
}

// jsonArgs decodes data into a []any, within budget bytes unless budget
// is negative.
func jsonArgs(data []byte, budget int) ([]any, error) {
	d, err := newJSONDecoder(data, budget)
	if err != nil {
		return nil, err
	}
	if d.space(); d.data[d.pos] == '[' {
		return d.array() // not boxed into an any
	}
	x, err := d.value()
	if err != nil {
		return nil, err
	}
	return asArgs("transport: json", x)
}

// jsonDecode checks data, refuses it when its estimate passes budget (a
// negative budget has no bound) and decodes it.
func jsonDecode(data []byte, budget int) (any, error) {
	d, err := newJSONDecoder(data, budget)
	if err != nil {
		return nil, err
	}
	return d.value()
}

// newJSONDecoder checks data, one JSON value, and refuses it when its
// estimate passes budget (a negative budget has no bound).
func newJSONDecoder(data []byte, budget int) (jsonDecoder, error) {
	s := jsonScanner{data: data}
	if err := s.check(); err != nil {
		return jsonDecoder{}, err
	}
	if budget >= 0 && s.cost > budget {
		return jsonDecoder{}, tooComplex(s.cost, budget)
	}
	if s.containers <= len(s.small) {
		return jsonDecoder{data: data, small: s.small}, nil
	}
	return jsonDecoder{data: data, counts: jsonCounts(data, s.containers)}, nil
}
