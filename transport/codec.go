package transport

import (
	"encoding/json"
	"fmt"

	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// A Codec serializes call arguments and results for one content type.
//
// Unmarshal into a *any, *[]any or *map[string]any yields only these Go
// types, the same for every codec: nil, bool, int64, uint64 (msgpack
// integers above math.MaxInt64), float64, string, []byte (msgpack bin),
// []any and map[string]any (map[any]any for msgpack maps whose keys are not
// all strings). A JSON number with no fraction or exponent decodes as
// int64, or as uint64 above math.MaxInt64; one beyond uint64 is an error,
// and so is a number beyond float64; any other number decodes as float64.
// Data after the value is an error. Unmarshal into any other type works as the underlying library does.
//
// Marshal accepts those types and anything else the underlying encoder
// does. JSON encodes []byte as a base64 string, as encoding/json does.
type Codec interface {
	ContentType() ContentType
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// AppendMarshal appends v encoded with c to dst and returns the extended
// slice, as append does. The codecs of this package encode straight into
// dst, so that a caller reusing its buffer allocates nothing for the
// common types; any other codec's Marshal is called and its bytes copied.
// On error dst is returned unchanged.
func AppendMarshal(c Codec, dst []byte, v any) ([]byte, error) {
	if a, ok := c.(appendMarshaler); ok {
		return a.appendMarshal(dst, v)
	}
	b, err := c.Marshal(v)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

// AppendArgs appends args encoded with c as one array, as
// AppendMarshal(c, dst, args) does, without boxing args into an any: the
// JSON and Msgpack codecs write the array's elements one by one. On error
// dst is returned unchanged.
func AppendArgs(c Codec, dst []byte, args []any) ([]byte, error) {
	a, ok := c.(appendMarshaler)
	if !ok || args == nil {
		return AppendMarshal(c, dst, args)
	}
	ct := c.ContentType()
	out := dst
	switch ct {
	case ContentJSON:
		out = append(out, '[')
	case ContentMsgpack:
		out = msgpackAppendLen(out, len(args), msgpcode.FixedArrayLow, 16, 0, msgpcode.Array16, msgpcode.Array32)
	default:
		return AppendMarshal(c, dst, args)
	}
	for i, v := range args {
		if ct == ContentJSON && i > 0 {
			out = append(out, ',')
		}
		var err error
		if out, err = a.appendMarshal(out, v); err != nil {
			return dst, err
		}
	}
	if ct == ContentJSON {
		out = append(out, ']')
	}
	return out, nil
}

// appendMarshaler is a codec that encodes straight into a buffer of the
// caller's; on error it returns dst unchanged.
type appendMarshaler interface {
	appendMarshal(dst []byte, v any) ([]byte, error)
}

// CodecFor returns the codec of codecs whose content type is ct. The error
// wraps ErrUnknownContentType.
func CodecFor(codecs []Codec, ct ContentType) (Codec, error) {
	for _, c := range codecs {
		if c.ContentType() == ct {
			return c, nil
		}
	}
	return nil, fmt.Errorf("%w %d", ErrUnknownContentType, uint8(ct))
}

// DefaultCodecs returns a new slice of the codecs servers and clients use
// when configured with none: JSON, EDN, Nippy and Msgpack.
func DefaultCodecs() []Codec {
	return []Codec{JSON, EDN, Nippy, Msgpack}
}

// viaJSON returns v, of a type a codec does not write itself, as
// encoding/json encodes it, read back into the types of [Codec]: a struct
// becomes a map keyed by its JSON field names. The EDN and nippy codecs
// write such values so.
func viaJSON(v any) (any, error) {
	b, err := JSON.Marshal(v)
	if err != nil {
		return nil, err
	}
	return jsonDecode(b, -1)
}

// unmarshalViaJSON stores x, a value decoded into the types of [Codec], in
// v, a pointer to another type, as encoding/json would store x's JSON.
func unmarshalViaJSON(x, v any) error {
	b, err := JSON.Marshal(x)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// decodeInto fills v when it is one of the targets every codec of this
// package fills alike, and reports whether it was: *any and
// *map[string]any with what value decodes, *[]any with what args does,
// and *int64, *string, *float64 and *bool when value decodes a value of
// that very type (the codec converts others, or says why not). A nil
// pointer is an error; codec names the codec in errors.
func decodeInto(codec string, v any, value func() (any, error), args func() ([]any, error)) (bool, error) {
	switch v := v.(type) {
	case *any:
		if v == nil {
			return true, nilTarget(codec, v)
		}
		x, err := value()
		if err == nil {
			*v = x
		}
		return true, err
	case *[]any:
		if v == nil {
			return true, nilTarget(codec, v)
		}
		a, err := args()
		if err == nil {
			*v = a
		}
		return true, err
	case *map[string]any:
		if v == nil {
			return true, nilTarget(codec, v)
		}
		x, err := value()
		if err != nil {
			return true, err
		}
		switch x := x.(type) {
		case nil:
			*v = nil
		case map[string]any:
			*v = x
		default:
			return true, fmt.Errorf("%s: cannot decode %s into map[string]any", codec, kindOf(x))
		}
		return true, nil
	case *int64, *string, *float64, *bool:
		if x, err := value(); err == nil && setScalar(v, x) {
			return true, nil
		}
	}
	return false, nil
}

// asArgs returns x, a decoded value, as the arguments of a call: an array,
// or nil for none.
func asArgs(codec string, x any) ([]any, error) {
	switch x := x.(type) {
	case nil:
		return nil, nil
	case []any:
		return x, nil
	}
	return nil, fmt.Errorf("%s: cannot decode %s into []any", codec, kindOf(x))
}

func nilTarget(codec string, v any) error {
	return fmt.Errorf("%s: Unmarshal(nil %T)", codec, v)
}

// kindOf names the kind of a decoded value.
func kindOf(x any) string {
	switch x.(type) {
	case map[string]any, map[any]any:
		return "a map"
	case []any:
		return "an array"
	case string:
		return "a string"
	case []byte:
		return "bytes"
	case bool:
		return "a boolean"
	}
	return "a number"
}

// setScalar sets *target to x when x is of its type, and reports whether
// it did.
func setScalar(target, x any) bool {
	switch t := target.(type) {
	case *int64:
		if n, ok := x.(int64); ok && t != nil {
			*t = n
			return true
		}
	case *string:
		if s, ok := x.(string); ok && t != nil {
			*t = s
			return true
		}
	case *float64:
		if f, ok := x.(float64); ok && t != nil {
			*t = f
			return true
		}
	case *bool:
		if b, ok := x.(bool); ok && t != nil {
			*t = b
			return true
		}
	}
	return false
}
