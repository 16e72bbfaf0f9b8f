package tests

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/internal/otlp"
	"github.com/slacker-lua/slacker-lua/slackerotel"
	"github.com/slacker-lua/slacker-lua/transport"
	"github.com/slacker-lua/slacker-lua/transport/transporttest"
)

// BenchmarkTracing measures calls per second of the Lua add, in msgpack,
// by 64 callers over one connection, with tracing off (no interceptor),
// and on, as serve --otlp-endpoint sets it up, at 1% and at 100% of the
// traces sampled, the spans sent over OTLP/HTTP to a collector of the
// benchmark's that reads and drops them. The calls begin their traces at
// the server. Client and server share the machine's cores.
//
//	go test -run '^$' -bench Tracing -benchtime 3s ./tests/
func BenchmarkTracing(b *testing.B) {
	s := benchServer(b)
	var received atomic.Int64
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		received.Add(n)
	}))
	defer sink.Close()
	for _, mode := range []struct {
		name  string
		ratio float64 // < 0: off
	}{{"off", -1}, {"sampled=1%", 0.01}, {"sampled=100%", 1}} {
		b.Run(mode.name, func(b *testing.B) {
			var ics []transport.Interceptor
			if mode.ratio >= 0 {
				exp, err := otlp.New(sink.URL, sink.Client())
				if err != nil {
					b.Fatal(err)
				}
				tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp),
					sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(mode.ratio))))
				defer tp.Shutdown(b.Context())
				ics = append(ics, slackerotel.Server(tp, slackerotel.ServerConfig{Addr: "127.0.0.1:7"}))
			}
			_, addr := transporttest.StartServer(b, transport.Intercept(s.reg, ics...), transport.ServerConfig{})
			c := dial(b, addr, client.Config{ContentType: transport.ContentMsgpack})
			before := received.Load()
			benchCalls(b, c, "bench/add", 64)
			b.ReportMetric(float64(received.Load()-before)/float64(b.N), "otlp-B/call")
		})
	}
}
