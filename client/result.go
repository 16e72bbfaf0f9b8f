package client

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/slacker-lua/slacker-lua/transport"
)

// Caller calls functions by name. *Client implements it; so will clients
// that spread calls over several servers. Code written against Caller, such
// as CallAs, works with either.
type Caller interface {
	Call(ctx context.Context, name string, args ...any) (Result, error)
}

// Result is the answer of a successful call: the result as the server
// serialized it, and the codec that reads it. Decoding is left to the
// caller, into whatever type it wants; the zero Result holds nothing.
type Result struct {
	body  []byte
	codec transport.Codec
}

// NewResult returns the Result of a call answered by other means than
// this package's clients, such as an HTTP gateway: body, serialized by
// codec.
func NewResult(body []byte, codec transport.Codec) Result { return Result{body: body, codec: codec} }

// errNoCodec is the error of decoding the zero Result.
var errNoCodec = errors.New("client: decoding an empty Result")

// Decode decodes the result into v, a pointer, with the codec of the
// result's content type. Decoding into a *any, *[]any or *map[string]any
// yields the normalized types listed in transport.Codec's documentation
// (int64 for integers, float64 for other numbers, and so on); other
// targets, such as structs, decode as the codec's library does. A result
// with an empty body leaves v unchanged.
func (r Result) Decode(v any) error {
	if r.codec == nil {
		return errNoCodec
	}
	if len(r.body) == 0 {
		return nil
	}
	return r.codec.Unmarshal(r.body, v)
}

// Value decodes the result into the normalized Go types of
// transport.Codec: nil, bool, int64, uint64, float64, string, []byte, []any,
// map[string]any or map[any]any.
func (r Result) Value() (any, error) {
	var v any
	err := r.Decode(&v)
	return v, err
}

// Raw returns the serialized result, as the server sent it. The slice is
// the Result's own; don't modify it.
func (r Result) Raw() []byte { return r.body }

// ContentType returns the content type the result is serialized in, zero
// for the zero Result.
func (r Result) ContentType() transport.ContentType {
	if r.codec == nil {
		return 0
	}
	return r.codec.ContentType()
}

// CallAs calls the function name with args through c and decodes its
// result into a T, as Result.Decode does: CallAs[int](ctx, c, "math/add",
// 1, 2). A result that can't be decoded into a T is an error naming the
// function; the call's own errors are returned as Call returns them.
func CallAs[T any](ctx context.Context, c Caller, name string, args ...any) (T, error) {
	var v T
	res, err := c.Call(ctx, name, args...)
	if err != nil {
		return v, err
	}
	if err := res.Decode(&v); err != nil {
		return v, fmt.Errorf("client: decoding the result of %s as %v: %w", name, reflect.TypeFor[T](), err)
	}
	return v, nil
}
