package transport

import (
	"context"
)

// CallFunc runs one call, as a Handler's Call does.
type CallFunc func(ctx context.Context, name string, args []any) (any, error)

// An Interceptor wraps the calls a Handler serves: to count them, time
// them, log them or refuse them. It returns the CallFunc that runs in
// next's place, which calls next to go on with the call.
type Interceptor func(next CallFunc) CallFunc

// Intercept returns h with its calls made through ics: the first is the
// outermost, the first to see a call and the last to see its result.
// Functions and Meta are h's, and so is Has when h is a [Finder].
func Intercept(h Handler, ics ...Interceptor) Handler {
	if len(ics) == 0 {
		return h
	}
	call := CallFunc(h.Call)
	miss := CallFunc(missing)
	for i := len(ics) - 1; i >= 0; i-- {
		call = ics[i](call)
		miss = ics[i](miss)
	}
	return intercepted{Handler: h, call: call, miss: miss}
}

type intercepted struct {
	Handler
	call CallFunc
	miss CallFunc // the interceptors around missing
}

// missing is the call of a function a Finder does not serve.
func missing(_ context.Context, name string, _ []any) (any, error) {
	return nil, notServedError(name)
}

// notServedError is ErrNotFound for the function it names; its text,
// "NAME: not found", is what callers over HTTP read.
type notServedError string

func (e notServedError) Error() string        { return string(e) + ": not found" }
func (e notServedError) Is(target error) bool { return target == ErrNotFound }

// NotServed answers, without its arguments, a call of name that h, a
// [Finder], does not serve: through the interceptors of h when it was made
// by [Intercept], so that they see the call, as if it reached h. Its error
// wraps ErrNotFound unless an interceptor changed it.
func NotServed(ctx context.Context, h Handler, name string) error {
	if ih, ok := h.(intercepted); ok {
		_, err := ih.miss(ctx, name, nil)
		return err
	}
	_, err := missing(ctx, name, nil)
	return err
}

func (h intercepted) Call(ctx context.Context, name string, args []any) (any, error) {
	return h.call(ctx, name, args)
}

// Has is the Has of h's handler when it is a [Finder]; otherwise every
// name may be served.
func (h intercepted) Has(name string) bool {
	f, ok := h.Handler.(Finder)
	return !ok || f.Has(name)
}
