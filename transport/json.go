package transport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// JSON is the codec of content type 1, slacker's "json". It encodes with
// encoding/json, without escaping HTML characters and without a trailing
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

func (jsonCodec) Marshal(v any) ([]byte, error) {
	e := jsonEncoders.Get().(*jsonEncoder)
	defer func() {
		if e.buf.Cap() <= maxPooledBuffer {
			e.buf.Reset()
			jsonEncoders.Put(e)
		}
	}()
	e.buf.Reset()
	err := e.enc.Encode(v)
	var ute *json.UnsupportedTypeError
	if errors.As(err, &ute) && ute.Type == mapAnyAnyType {
		// Maps decoded from msgpack may have non-string keys, which
		// encoding/json does not take: give it string keys.
		var conv any
		if conv, err = jsonKeys(v, 0); err == nil {
			e.buf.Reset()
			err = e.enc.Encode(conv)
		}
	}
	if err != nil {
		return nil, err
	}
	b := e.buf.Bytes()
	return bytes.Clone(b[:len(b)-1]), nil // without Encode's newline
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

func (jsonCodec) Unmarshal(data []byte, v any) error {
	switch v.(type) {
	case *any, *[]any, *map[string]any:
	default:
		return json.Unmarshal(data, v)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		if err == io.EOF {
			return fmt.Errorf("transport: json: no value: %w", io.ErrUnexpectedEOF)
		}
		return err
	}
	if rest := data[dec.InputOffset():]; len(bytes.TrimLeft(rest, " \t\r\n")) > 0 {
		return fmt.Errorf("transport: json: %w", errTrailingData)
	}
	var err error
	switch v := v.(type) {
	case *any:
		*v, err = jsonNumbers(*v)
	case *[]any:
		err = jsonNumbersIn(*v)
	case *map[string]any:
		err = jsonNumbersIn(*v)
	}
	return err
}

// jsonNumbers replaces the json.Numbers in v, which is what a decoder with
// UseNumber makes, by int64 or float64.
func jsonNumbers(v any) (any, error) {
	switch v := v.(type) {
	case json.Number:
		return jsonNumber(string(v))
	case []any:
		return v, jsonNumbersIn(v)
	case map[string]any:
		return v, jsonNumbersIn(v)
	}
	return v, nil
}

func jsonNumbersIn[C []any | map[string]any](c C) error {
	switch c := any(c).(type) {
	case []any:
		for i, e := range c {
			x, err := jsonNumbers(e)
			if err != nil {
				return err
			}
			c[i] = x
		}
	case map[string]any:
		for k, e := range c {
			x, err := jsonNumbers(e)
			if err != nil {
				return err
			}
			c[k] = x
		}
	}
	return nil
}

// jsonNumber converts a JSON number: an integer literal that fits int64 to
// int64, anything else to float64.
func jsonNumber(s string) (any, error) {
	if !strings.ContainsAny(s, ".eE") {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("transport: json: number %s out of range", s)
	}
	return f, nil
}
