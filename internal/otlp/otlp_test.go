package otlp

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// TestEncodeDecode makes spans with the SDK, encodes them, and reads them
// back with Decode: ids, parent, name, kind, attributes of each type,
// events, status and resource.
func TestEncodeDecode(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "test"))))
	tr := tp.Tracer("scope")
	ctx, parent := tr.Start(context.Background(), "parent", trace.WithSpanKind(trace.SpanKindServer))
	_, child := tr.Start(ctx, "child", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("s", "v"), attribute.Bool("b", true), attribute.Int64("i", -7), attribute.Float64("f", 1.5),
		attribute.StringSlice("ss", []string{"a", "b"})))
	child.AddEvent("happened", trace.WithAttributes(attribute.Int("n", 3)))
	child.SetStatus(codes.Error, "broke")
	child.End()
	parent.End()
	got, err := Decode(Encode(rec.Ended()))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d spans: %+v", len(got), got)
	}
	c, p := got[0], got[1]
	pc, cc := parent.SpanContext(), child.SpanContext()
	if c.Name != "child" || c.Kind != 3 || p.Name != "parent" || p.Kind != 2 {
		t.Errorf("names and kinds: %+v, %+v", c, p)
	}
	if c.TraceID != cc.TraceID().String() || c.SpanID != cc.SpanID().String() || c.ParentSpanID != pc.SpanID().String() || p.ParentSpanID != "" {
		t.Errorf("ids: %+v, %+v", c, p)
	}
	want := map[string]any{"s": "v", "b": true, "i": int64(-7), "f": 1.5, "ss": `["a","b"]`}
	for k, v := range want {
		if c.Attributes[k] != v {
			t.Errorf("attribute %s: %#v, want %#v", k, c.Attributes[k], v)
		}
	}
	if len(c.Events) != 1 || c.Events[0].Name != "happened" || c.Events[0].Attributes["n"] != int64(3) {
		t.Errorf("events: %+v", c.Events)
	}
	if c.StatusCode != 2 || c.StatusMessage != "broke" || p.StatusCode != 0 {
		t.Errorf("status: %d %q; parent %d", c.StatusCode, c.StatusMessage, p.StatusCode)
	}
	if c.Resource["service.name"] != "test" || c.Scope != "scope" {
		t.Errorf("resource %v, scope %q", c.Resource, c.Scope)
	}
}

// exporterOf returns an Exporter to srv, and a recorder of one span
// ended, "one".
func exporterOf(t *testing.T, srv *httptest.Server) (*Exporter, *tracetest.SpanRecorder) {
	t.Helper()
	exp, err := New(srv.URL, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	_, s := tp.Tracer("x").Start(context.Background(), "one")
	s.End()
	return exp, rec
}

func TestExporter(t *testing.T) {
	var mu sync.Mutex
	var got []Span
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		spans, err := Decode(b)
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" || err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		got = append(got, spans...)
		w.WriteHeader(status)
	}))
	defer srv.Close()
	exp, rec := exporterOf(t, srv)
	if err := exp.ExportSpans(context.Background(), rec.Ended()); err != nil || len(got) != 1 || got[0].Name != "one" {
		t.Fatalf("export: %v, %+v", err, got)
	}
	mu.Lock()
	status = http.StatusServiceUnavailable
	mu.Unlock()
	if err := exp.ExportSpans(context.Background(), rec.Ended()); err == nil {
		t.Error("a 503 is no error")
	}
	exp.Shutdown(context.Background())
	if err := exp.ExportSpans(context.Background(), rec.Ended()); err != nil || len(got) != 1+Tries { // the 503 tried Tries times
		t.Errorf("after Shutdown: %v, %d spans", err, len(got))
	}
	for _, bad := range []string{"", "localhost:9", "ftp://h"} {
		if _, err := New(bad, http.DefaultClient); err == nil {
			t.Errorf("New(%q): no error", bad)
		}
	}
	if e, _ := New("http://h:4318/custom/path", http.DefaultClient); e.url != "http://h:4318/custom/path" {
		t.Errorf("a path of its own: %s", e.url)
	}
}

// FuzzDecode checks that Decode never panics.
func FuzzDecode(f *testing.F) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	_, s := tp.Tracer("x").Start(context.Background(), "seed", trace.WithAttributes(attribute.String("k", "v")))
	s.End()
	f.Add(Encode(rec.Ended()))
	f.Fuzz(func(t *testing.T, b []byte) {
		Decode(b) // an error or spans, never a panic
	})
}

// TestExporterRetries checks that a batch is tried again when the
// collector asks for it (503, 429 with a Retry-After), up to Tries, and
// not when it refuses it (400).
func TestExporterRetries(t *testing.T) {
	var mu sync.Mutex
	var answers []int // the statuses to answer, in turn; 200 after them
	requests := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		requests++
		code := http.StatusOK
		if len(answers) > 0 {
			code, answers = answers[0], answers[1:]
		}
		if code == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "0")
		}
		w.WriteHeader(code)
	}))
	defer srv.Close()
	exp, rec := exporterOf(t, srv)
	for _, tc := range []struct {
		answers  []int
		ok       bool
		requests int
	}{
		{[]int{503, 429}, true, 3},
		{[]int{400}, false, 1},
		{[]int{503, 503, 503, 503, 503}, false, Tries},
	} {
		mu.Lock()
		answers, requests = tc.answers, 0
		mu.Unlock()
		err := exp.ExportSpans(context.Background(), rec.Ended())
		mu.Lock()
		n := requests
		mu.Unlock()
		if (err == nil) != tc.ok || n != tc.requests {
			t.Errorf("answers %v: %v after %d requests; want ok %v after %d", tc.answers, err, n, tc.ok, tc.requests)
		}
	}
	// A batch whose context ends waits no longer.
	mu.Lock()
	answers = []int{503, 503, 503, 503}
	mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	begin := time.Now()
	if err := exp.ExportSpans(ctx, rec.Ended()); err == nil || time.Since(begin) > 2*time.Second {
		t.Errorf("a batch out of time: %v after %v", err, time.Since(begin))
	}
}
