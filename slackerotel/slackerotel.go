// Package slackerotel makes OpenTelemetry spans of slacker-lua's calls:
// [Server] is the interceptor of a server's calls (transport.Interceptor,
// for the binary protocol and the HTTP gateway alike) and [Client] that of
// a Go client's or a cluster client's (client.Interceptor). They follow
// the semantic conventions for RPC: rpc.system "slacker", rpc.service the
// namespace, rpc.method the function, the result code, the server's
// address and the request's size; a span is named "namespace/function".
//
// A span is the child of the span of the call's context, if any (an HTTP
// server span an embedder's middleware made, say), or else of the trace
// context the call carries (see package tracectx); the call goes on with
// the span's own trace context. So slacker.call's calls, and their spans,
// are a server span's children, and a client span's trace context goes
// to the server.
//
// The package plugs into an OpenTelemetry SDK the program sets up (its
// TracerProvider); it links no exporter.
package slackerotel

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/tracectx"
	"github.com/slacker-lua/slacker-lua/transport"
)

// ScopeName is the instrumentation scope of the spans.
const ScopeName = "github.com/slacker-lua/slacker-lua/slackerotel"

// The attributes of the spans beside the conventions' own.
const (
	// ResultCodeKey is the call's result code, as slacker names it:
	// "success", "exception", "not-found", "canceled", ...
	ResultCodeKey = attribute.Key("rpc.slacker.result_code")
	// RequestSizeKey is the size in bytes of the call's serialized
	// arguments, and ResponseSizeKey that of its result, where known.
	RequestSizeKey  = attribute.Key("rpc.request.size")
	ResponseSizeKey = attribute.Key("rpc.response.size")
)

var propagator = propagation.TraceContext{}

// The spans' kinds, as options made once. Their attributes are set once
// a span is known to record: a call not sampled costs the fewest
// allocations.
var (
	serverKind = trace.WithSpanKind(trace.SpanKindServer)
	clientKind = trace.WithSpanKind(trace.SpanKindClient)
)

// carrier is a propagation.TextMapCarrier of a tracectx.Context.
type carrier struct{ tc *tracectx.Context }

func (c carrier) Get(key string) string {
	switch key {
	case "traceparent":
		return c.tc.Parent
	case "tracestate":
		return c.tc.State
	}
	return ""
}

func (c carrier) Set(key, value string) {
	switch key {
	case "traceparent":
		c.tc.Parent = value
	case "tracestate":
		c.tc.State = value
	}
}

func (c carrier) Keys() []string { return []string{"traceparent", "tracestate"} }

// spanCtx is a context whose trace context is that of its span, for the
// calls made under it: made only when asked for (by slacker.call, a
// client, slacker.trace_id), so that a call that asks not costs nothing.
type spanCtx struct{ context.Context }

func (c spanCtx) Value(k any) any {
	switch k {
	case tracectx.SampledKey{}:
		return trace.SpanContextFromContext(c.Context).IsSampled()
	case tracectx.Key{}:
	default:
		return c.Context.Value(k)
	}
	var tc tracectx.Context
	propagator.Inject(c.Context, carrier{&tc})
	if !tc.Valid() {
		return c.Context.Value(k)
	}
	return tc
}

// afterFuncer is a context that runs functions when it is done without a
// goroutine of its own, as transport's calls' contexts do (see
// context.AfterFunc): a context made from it need not start one.
type afterFuncer interface {
	AfterFunc(func()) func() bool
}

// spanAfterCtx is a spanCtx whose call's context is an afterFuncer: the
// values the span added hide not that, so that the contexts the call
// makes (such as the engine's deadline) start no goroutine.
type spanAfterCtx struct {
	spanCtx
	after afterFuncer
}

func (c spanAfterCtx) AfterFunc(f func()) func() bool { return c.after.AfterFunc(f) }

// withSpan returns ctx, made from the call's context call by adding
// values alone, carrying the trace context of its span.
func withSpan(ctx, call context.Context) context.Context {
	if a, ok := call.(afterFuncer); ok {
		return spanAfterCtx{spanCtx{ctx}, a}
	}
	return spanCtx{ctx}
}

// attrs are a call's attributes of the conventions, for name,
// "namespace/function".
func attrs(name string) []attribute.KeyValue {
	ns, fn, _ := strings.Cut(name, "/")
	return []attribute.KeyValue{
		attribute.String("rpc.system", "slacker"),
		attribute.String("rpc.service", ns),
		attribute.String("rpc.method", fn),
	}
}

// end ends span with the result of a call: its code, and its error, if
// any.
func end(span trace.Span, err error) {
	code := transport.CodeOf(err)
	var re *transport.RemoteError
	if err != nil && errors.As(err, &re) {
		code = re.Code
	}
	span.SetAttributes(ResultCodeKey.String(code.String()))
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, code.String())
	}
	span.End()
}

// ServerConfig configures Server.
type ServerConfig struct {
	// Addr is the address the server is reached at, host:port, for the
	// spans' server.address and server.port. "" leaves them out.
	Addr string
}

// Server returns the interceptor of a server's calls, which makes a
// server span of each with tp's tracer.
func Server(tp trace.TracerProvider, cfg ServerConfig) transport.Interceptor {
	tracer := tp.Tracer(ScopeName)
	base := addrAttrs(cfg.Addr)
	return func(next transport.CallFunc) transport.CallFunc {
		return func(ctx context.Context, name string, args []any) (any, error) {
			ctx, span := begin(ctx, tracer, name, serverKind, base)
			if !span.IsRecording() {
				// Not sampled: the trace context still goes on, with the
				// caller's flags.
				res, err := next(ctx, name, args)
				span.End()
				return res, err
			}
			if n, ok := transport.RequestSize(ctx); ok {
				span.SetAttributes(RequestSizeKey.Int(n))
			}
			res, err := next(ctx, name, args)
			end(span, err)
			return res, err
		}
	}
}

// begin starts the span of a call of name, of kind, with the attributes
// base beside the conventions' own: the child of ctx's span or, if it has
// none, of its trace context. It returns the context the call goes on
// with, which carries the span's trace context.
func begin(ctx context.Context, tracer trace.Tracer, name string, kind trace.SpanStartOption, base []attribute.KeyValue) (context.Context, trace.Span) {
	call := ctx
	if !trace.SpanContextFromContext(ctx).IsValid() {
		if tc := tracectx.From(ctx); tc.Parent != "" {
			ctx = propagator.Extract(ctx, carrier{&tc})
		}
	}
	ctx, span := tracer.Start(ctx, name, kind)
	if span.IsRecording() {
		span.SetAttributes(attrs(name)...)
		span.SetAttributes(base...)
	}
	return withSpan(ctx, call), span
}

// ClientConfig configures Client.
type ClientConfig struct {
	// Addr is the address of the server the client calls, for the spans'
	// server.address and server.port. "" leaves them out, as for a
	// cluster client, whose calls go to many.
	Addr string
}

// Client returns the interceptor of a client's calls, which makes a
// client span of each with tp's tracer.
func Client(tp trace.TracerProvider, cfg ClientConfig) client.Interceptor {
	tracer := tp.Tracer(ScopeName)
	base := addrAttrs(cfg.Addr)
	return func(next client.CallFunc) client.CallFunc {
		return func(ctx context.Context, name string, args []any) (client.Result, error) {
			ctx, span := begin(ctx, tracer, name, clientKind, base)
			res, err := next(ctx, name, args)
			if !span.IsRecording() {
				span.End()
				return res, err
			}
			if err == nil {
				span.SetAttributes(ResponseSizeKey.Int(len(res.Raw())))
			}
			end(span, err)
			return res, err
		}
	}
}

// addrAttrs are server.address and server.port of addr, host:port; none
// if addr is "".
func addrAttrs(addr string) []attribute.KeyValue {
	if addr == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return []attribute.KeyValue{attribute.String("server.address", addr)}
	}
	n, _ := strconv.Atoi(port)
	return []attribute.KeyValue{attribute.String("server.address", host), attribute.Int("server.port", n)}
}
