package slackerotel

import (
	"context"
	"errors"
	"runtime"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/tracectx"
	"github.com/slacker-lua/slacker-lua/transport"
)

const (
	sampled    = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	notSampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
)

func provider() (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	rec := tracetest.NewSpanRecorder()
	return sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample()))), rec
}

func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

// TestServer checks a server span: the child of the call's trace
// context, with the conventions' attributes, passing its own trace
// context on; an error's status and code.
func TestServer(t *testing.T) {
	tp, rec := provider()
	var inner tracectx.Context
	call := Server(tp, ServerConfig{Addr: "10.0.0.1:2104"})(func(ctx context.Context, name string, args []any) (any, error) {
		inner = tracectx.From(ctx)
		if name == "ns/boom" {
			return nil, transport.ErrException
		}
		return 1, nil
	})
	ctx := transport.WithRequestSize(tracectx.With(context.Background(), tracectx.Context{Parent: sampled, State: "k=v"}), 42)
	if _, err := call(ctx, "ns/fn", nil); err != nil {
		t.Fatal(err)
	}
	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans", len(spans))
	}
	s := spans[0]
	if s.Name() != "ns/fn" || s.SpanKind() != trace.SpanKindServer || s.Parent().SpanID().String() != "00f067aa0ba902b7" || s.SpanContext().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || !s.Parent().IsRemote() {
		t.Errorf("span %s %v, parent %v", s.Name(), s.SpanKind(), s.Parent())
	}
	for k, v := range map[string]string{"rpc.system": "slacker", "rpc.service": "ns", "rpc.method": "fn", "rpc.slacker.result_code": "success",
		"server.address": "10.0.0.1", "server.port": "2104", "rpc.request.size": "42"} {
		if got := attr(s, k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if want := "00-4bf92f3577b34da6a3ce929d0e0e4736-" + s.SpanContext().SpanID().String() + "-01"; inner.Parent != want || inner.State != "k=v" {
		t.Errorf("the call goes on with %+v, want %s and the tracestate", inner, want)
	}
	if _, err := call(ctx, "ns/boom", nil); err == nil {
		t.Fatal("no error")
	}
	b := rec.Ended()[1]
	if b.Status().Code.String() != "Error" || attr(b, "rpc.slacker.result_code") != "exception" || len(b.Events()) != 1 {
		t.Errorf("a failed call: status %v, code %q, %d events", b.Status(), attr(b, "rpc.slacker.result_code"), len(b.Events()))
	}
}

// TestServerNotSampled checks that a call whose caller did not sample it
// records no span, and still passes a trace context of its trace on; and
// that a call without one begins a trace.
func TestServerNotSampled(t *testing.T) {
	tp, rec := provider()
	var inner tracectx.Context
	call := Server(tp, ServerConfig{})(func(ctx context.Context, name string, args []any) (any, error) {
		inner = tracectx.From(ctx)
		return nil, nil
	})
	call(tracectx.With(context.Background(), tracectx.Context{Parent: notSampled}), "ns/fn", nil)
	if n := len(rec.Ended()); n != 0 || inner.TraceID() != "4bf92f3577b34da6a3ce929d0e0e4736" || inner.Parent[53:] != "00" {
		t.Errorf("not sampled: %d spans, the call goes on with %+v", n, inner)
	}
	call(context.Background(), "ns/fn", nil)
	if spans := rec.Ended(); len(spans) != 1 || spans[0].Parent().IsValid() || inner.TraceID() != spans[0].SpanContext().TraceID().String() {
		t.Errorf("a trace begun: %d spans, %+v", len(spans), inner)
	}
}

// TestClient checks a client span: the child of its context's span, or
// of its trace context, sending its own.
func TestClient(t *testing.T) {
	tp, rec := provider()
	var sent tracectx.Context
	call := Client(tp, ClientConfig{Addr: "h:1"})(func(ctx context.Context, name string, args []any) (client.Result, error) {
		sent = tracectx.From(ctx)
		if name == "ns/boom" {
			return client.Result{}, &transport.RemoteError{Code: transport.CodeNotFound, Name: name}
		}
		return client.NewResult([]byte("1234"), transport.JSON), nil
	})
	ctx, parent := tp.Tracer("t").Start(context.Background(), "parent")
	if _, err := call(ctx, "ns/fn", nil); err != nil {
		t.Fatal(err)
	}
	parent.End()
	s := rec.Ended()[0]
	if s.Name() != "ns/fn" || s.SpanKind() != trace.SpanKindClient || s.Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Errorf("span %s %v, parent %v", s.Name(), s.SpanKind(), s.Parent())
	}
	if attr(s, "rpc.response.size") != "4" || attr(s, "server.address") != "h" || attr(s, "rpc.slacker.result_code") != "success" {
		t.Errorf("attributes %v", s.Attributes())
	}
	if want := "00-" + s.SpanContext().TraceID().String() + "-" + s.SpanContext().SpanID().String() + "-01"; sent.Parent != want {
		t.Errorf("sent %q, want %q", sent.Parent, want)
	}
	// From a trace context alone.
	call(tracectx.With(context.Background(), tracectx.Context{Parent: sampled}), "ns/fn", nil)
	if s := rec.Ended()[2]; s.Parent().SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("a client span of a trace context: parent %v", s.Parent())
	}
	_, err := call(context.Background(), "ns/boom", nil)
	var re *transport.RemoteError
	if s := rec.Ended()[3]; !errors.As(err, &re) || attr(s, "rpc.slacker.result_code") != "not-found" || s.Status().Code.String() != "Error" {
		t.Errorf("a failed call: %v, code %q", err, attr(s, "rpc.slacker.result_code"))
	}
}

// afterCtx is a context done by AfterFunc alone, as transport's calls'
// contexts are.
type afterCtx struct {
	context.Context
	done chan struct{}
}

func (c *afterCtx) Done() <-chan struct{} { return c.done }
func (c *afterCtx) AfterFunc(f func()) func() bool {
	return func() bool { return true }
}

// TestNoGoroutinePerCall checks that the contexts a call makes from a
// server span's start no goroutine when the call's own context needs
// none: the span's values must not hide its AfterFunc.
func TestNoGoroutinePerCall(t *testing.T) {
	tp, _ := provider()
	var cancels []context.CancelFunc
	call := Server(tp, ServerConfig{})(func(ctx context.Context, name string, args []any) (any, error) {
		_, cancel := context.WithCancel(ctx)
		cancels = append(cancels, cancel)
		return nil, nil
	})
	parent := &afterCtx{Context: context.Background(), done: make(chan struct{})}
	before := runtime.NumGoroutine()
	for range 100 {
		call(parent, "ns/fn", nil)
	}
	if n := runtime.NumGoroutine() - before; n > 10 {
		t.Errorf("%d goroutines for 100 calls", n)
	}
	for _, c := range cancels {
		c()
	}
}
