// Package tracectx carries a call's W3C trace context
// (https://www.w3.org/TR/trace-context/) in a context.Context, from hop to
// hop: the gateway reads it from an HTTP request's traceparent and
// tracestate headers, the server from a request's extensions (see
// PROTOCOL.md, "Extensions"), and the Go client sends it with its calls;
// slacker.call passes it on, and Lua reads its trace id with
// slacker.trace_id(). It knows nothing of OpenTelemetry, whose spans the
// slackerotel package makes of it, and has no dependency.
package tracectx

import "context"

// Context is a W3C trace context: a traceparent, as
// "00-<trace-id>-<parent-id>-<flags>", and an optional tracestate.
type Context struct {
	Parent string
	State  string
}

// Limits on what is carried: a traceparent of another version than 00
// may be longer; a tracestate has at most 32 list members of about 513
// bytes each, and one longer than MaxState is dropped (the traceparent
// kept, as W3C asks).
const (
	MaxParent = 256
	MaxState  = 8192
)

// Key is the key of a Context in a context.Context, for implementations
// of context.Context that carry one in a field of their own: their
// Value(Key{}) returns a Context.
type Key struct{}

// With returns ctx carrying tc, if its traceparent is valid, else ctx; a
// tracestate longer than MaxState is dropped.
func With(ctx context.Context, tc Context) context.Context {
	if !tc.Valid() {
		return ctx
	}
	return context.WithValue(ctx, Key{}, tc.Bounded())
}

// Bounded returns tc without its tracestate if that is longer than
// MaxState.
func (tc Context) Bounded() Context {
	if len(tc.State) > MaxState {
		tc.State = ""
	}
	return tc
}

// SampledKey is the key under which a context may say, without making
// its trace context, whether its call is sampled: its Value(SampledKey{})
// is a bool. A context that does not answer is asked for its Context.
type SampledKey struct{}

// Sampled reports whether the call of ctx is sampled: its trace
// context's sampled flag is set.
func Sampled(ctx context.Context) bool {
	if s, ok := ctx.Value(SampledKey{}).(bool); ok {
		return s
	}
	return From(ctx).Sampled()
}

// Sampled reports whether tc is valid, and its sampled flag set.
func (tc Context) Sampled() bool {
	if !tc.Valid() {
		return false
	}
	c := tc.Parent[54] // the flags' low digit
	if c > '9' {
		c -= 'a' - 10
	} else {
		c -= '0'
	}
	return c&1 == 1
}

// From returns the Context ctx carries, the zero Context if none.
func From(ctx context.Context) Context {
	tc, _ := ctx.Value(Key{}).(Context)
	return tc
}

// Valid reports whether tc's traceparent is well formed: a version of two
// hex digits other than ff, then a trace id of 32 and a parent id of 16
// hex digits, neither all zeros, and flags of 2 (for version 00, none
// but the sampled and random bits, 0x01 and 0x02); a version other than
// 00 may have more fields after a dash. The tracestate is not looked at.
func (tc Context) Valid() bool {
	p := tc.Parent
	if len(p) < 55 || len(p) > MaxParent {
		return false
	}
	if !hex(p[0:2]) || p[0:2] == "ff" || p[2] != '-' || !hex(p[3:35]) || p[35] != '-' || !hex(p[36:52]) || p[52] != '-' || !hex(p[53:55]) {
		return false
	}
	if p[3:35] == "00000000000000000000000000000000" || p[36:52] == "0000000000000000" {
		return false
	}
	if p[0:2] == "00" {
		return len(p) == 55 && p[53] == '0' && p[54] <= '3'
	}
	return len(p) == 55 || p[55] == '-'
}

// TraceID returns tc's trace id, 32 lowercase hex digits; "" if tc is not
// valid.
func (tc Context) TraceID() string {
	if !tc.Valid() {
		return ""
	}
	return tc.Parent[3:35]
}

// hex reports whether s is lowercase hex digits.
func hex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
