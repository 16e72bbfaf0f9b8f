// Package otlp exports OpenTelemetry spans over OTLP/HTTP: each batch the
// SDK hands it is one ExportTraceServiceRequest, in protobuf, POSTed to a
// collector's /v1/traces. It encodes the few messages that takes itself,
// with protowire, rather than link the OTLP exporter's gRPC dependencies
// into the server. It writes what slacker-lua's spans have: ids, parent,
// name, kind, times, attributes (slices as their JSON text), events and
// status, and their resources and scopes' names and versions; not links,
// nor dropped event and link counts. It tries a batch again when the
// collector asks it to (see Tries), and does not compress it.
package otlp

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/encoding/protowire"
)

// Exporter is an sdktrace.SpanExporter that POSTs spans to an OTLP/HTTP
// endpoint.
type Exporter struct {
	url  string
	http *http.Client

	mu     sync.Mutex
	closed bool
}

// New returns an Exporter to endpoint, a collector's URL: its path, if
// none, is /v1/traces, OTLP/HTTP's. hc sends the requests.
func New(endpoint string, hc *http.Client) (*Exporter, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("otlp: %q: want the URL of an OTLP/HTTP collector, such as http://127.0.0.1:4318", endpoint)
	}
	if strings.Trim(u.Path, "/") == "" {
		u.Path = "/v1/traces"
	}
	return &Exporter{url: u.String(), http: hc}, nil
}

// Tries bounds the requests of one batch: a collector that answers 429,
// 502, 503 or 504, or can't be reached, is asked again after 100 ms, then
// 200 ms and so on (or after its Retry-After, up to 5 s), as long as the
// batch's context allows.
const Tries = 4

// ExportSpans sends spans, as one request, tried again as Tries says.
func (e *Exporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	if closed || len(spans) == 0 {
		return nil
	}
	body := Encode(spans)
	wait := 100 * time.Millisecond
	for try := 1; ; try++ {
		again, err := e.post(ctx, body)
		if err == nil || again <= 0 || try == Tries {
			return err
		}
		if again == retryNow {
			again = wait
			wait *= 2
		}
		t := time.NewTimer(min(again, 5*time.Second))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
	}
}

// retryNow asks post's caller to try again after its own backoff.
const retryNow = time.Duration(math.MaxInt64)

// post sends body once. It returns how long to wait before a try again,
// retryNow for the caller's backoff, or 0 when trying again is no use.
func (e *Exporter) post(ctx context.Context, body []byte) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := e.http.Do(req)
	if err != nil {
		return retryNow, fmt.Errorf("otlp: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode/100 == 2:
		return 0, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusBadGateway ||
		resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusGatewayTimeout:
		again := retryNow
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs >= 0 {
			again = time.Duration(secs)*time.Second + 1 // a Retry-After of 0 is still a wait, of none
		}
		return again, fmt.Errorf("otlp: POST %s: %s", e.url, resp.Status)
	}
	return 0, fmt.Errorf("otlp: POST %s: %s", e.url, resp.Status)
}

// Shutdown stops the exporter: later spans are dropped.
func (e *Exporter) Shutdown(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	return nil
}

// Encode returns spans as an ExportTraceServiceRequest: a ResourceSpans
// for each resource, a ScopeSpans in it for each instrumentation scope.
func Encode(spans []sdktrace.ReadOnlySpan) []byte {
	type scoped struct {
		res    []attribute.KeyValue
		scope  string
		ver    string
		schema string
		spans  []sdktrace.ReadOnlySpan
	}
	var groups []*scoped
	find := func(s sdktrace.ReadOnlySpan) *scoped {
		res := s.Resource().Attributes()
		sc := s.InstrumentationScope()
		for _, g := range groups {
			if g.scope == sc.Name && g.ver == sc.Version && equalAttrs(g.res, res) {
				return g
			}
		}
		g := &scoped{res: res, scope: sc.Name, ver: sc.Version, schema: s.Resource().SchemaURL()}
		groups = append(groups, g)
		return g
	}
	for _, s := range spans {
		g := find(s)
		g.spans = append(g.spans, s)
	}
	var out []byte
	for _, g := range groups {
		var rs []byte
		var res []byte
		for _, kv := range g.res {
			res = message(res, 1, keyValue(nil, kv))
		}
		rs = message(rs, 1, res)
		var ss []byte
		var scope []byte
		scope = str(scope, 1, g.scope)
		scope = str(scope, 2, g.ver)
		ss = message(ss, 1, scope)
		for _, s := range g.spans {
			ss = message(ss, 2, span(nil, s))
		}
		rs = message(rs, 2, ss)
		rs = str(rs, 3, g.schema)
		out = message(out, 1, rs)
	}
	return out
}

func equalAttrs(a, b []attribute.KeyValue) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// span appends the Span message of s.
func span(b []byte, s sdktrace.ReadOnlySpan) []byte {
	sc := s.SpanContext()
	tid, sid := sc.TraceID(), sc.SpanID()
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, tid[:])
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendBytes(b, sid[:])
	b = str(b, 3, sc.TraceState().String())
	if p := s.Parent(); p.SpanID().IsValid() {
		psid := p.SpanID()
		b = protowire.AppendTag(b, 4, protowire.BytesType)
		b = protowire.AppendBytes(b, psid[:])
	}
	b = str(b, 5, s.Name())
	b = protowire.AppendTag(b, 6, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(kind(s.SpanKind())))
	b = protowire.AppendTag(b, 7, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, uint64(s.StartTime().UnixNano()))
	b = protowire.AppendTag(b, 8, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, uint64(s.EndTime().UnixNano()))
	for _, kv := range s.Attributes() {
		b = message(b, 9, keyValue(nil, kv))
	}
	if n := s.DroppedAttributes(); n > 0 {
		b = protowire.AppendTag(b, 10, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(n))
	}
	for _, ev := range s.Events() {
		var e []byte
		e = protowire.AppendTag(e, 1, protowire.Fixed64Type)
		e = protowire.AppendFixed64(e, uint64(ev.Time.UnixNano()))
		e = str(e, 2, ev.Name)
		for _, kv := range ev.Attributes {
			e = message(e, 3, keyValue(nil, kv))
		}
		b = message(b, 11, e)
	}
	if st := s.Status(); st.Code != codes.Unset {
		var m []byte
		m = str(m, 2, st.Description)
		m = protowire.AppendTag(m, 3, protowire.VarintType)
		code := uint64(1) // OK
		if st.Code == codes.Error {
			code = 2
		}
		m = protowire.AppendVarint(m, code)
		b = message(b, 15, m)
	}
	flags := uint32(0x100) // the parent's remoteness is known (bit 8); bit 9 says it is remote
	if s.Parent().IsRemote() {
		flags |= 0x200
	}
	flags |= uint32(sc.TraceFlags())
	b = protowire.AppendTag(b, 16, protowire.Fixed32Type)
	b = protowire.AppendFixed32(b, flags)
	return b
}

// kind is OTLP's SpanKind of k.
func kind(k trace.SpanKind) int {
	switch k {
	case trace.SpanKindInternal:
		return 1
	case trace.SpanKindServer:
		return 2
	case trace.SpanKindClient:
		return 3
	case trace.SpanKindProducer:
		return 4
	case trace.SpanKindConsumer:
		return 5
	}
	return 0
}

// keyValue appends the KeyValue message of kv.
func keyValue(b []byte, kv attribute.KeyValue) []byte {
	b = str(b, 1, string(kv.Key))
	var v []byte
	switch kv.Value.Type() {
	case attribute.STRING:
		v = protowire.AppendTag(v, 1, protowire.BytesType)
		v = protowire.AppendString(v, kv.Value.AsString())
	case attribute.BOOL:
		v = protowire.AppendTag(v, 2, protowire.VarintType)
		v = protowire.AppendVarint(v, protowire.EncodeBool(kv.Value.AsBool()))
	case attribute.INT64:
		v = protowire.AppendTag(v, 3, protowire.VarintType)
		v = protowire.AppendVarint(v, uint64(kv.Value.AsInt64()))
	case attribute.FLOAT64:
		v = protowire.AppendTag(v, 4, protowire.Fixed64Type)
		v = protowire.AppendFixed64(v, math.Float64bits(kv.Value.AsFloat64()))
	default: // slices, as their text
		v = protowire.AppendTag(v, 1, protowire.BytesType)
		v = protowire.AppendString(v, kv.Value.Emit())
	}
	return message(b, 2, v)
}

// str appends field num, a string, unless it is empty (proto3's default).
func str(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// message appends field num, the message m.
func message(b []byte, num protowire.Number, m []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, m)
}

var _ sdktrace.SpanExporter = (*Exporter)(nil)
