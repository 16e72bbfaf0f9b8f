package transport

import "context"

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
	for i := len(ics) - 1; i >= 0; i-- {
		call = ics[i](call)
	}
	return intercepted{Handler: h, call: call}
}

type intercepted struct {
	Handler
	call CallFunc
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
