package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/slacker-lua/slacker-lua/internal/otlp"
	"github.com/slacker-lua/slacker-lua/transport"
)

// tracingFlags are serve's flags of OpenTelemetry tracing.
type tracingFlags struct {
	endpoint string
	sample   float64
	set      func(string) bool // whether a flag of fs was given
}

func (f *tracingFlags) register(fs *flag.FlagSet) {
	f.set = func(name string) bool { return isSet(fs, name) }
	fs.StringVar(&f.endpoint, "otlp-endpoint", "", "`URL` of an OTLP/HTTP collector, such as http://127.0.0.1:4318: makes an OpenTelemetry span of every call, sent there; none if empty")
	fs.Float64Var(&f.sample, "trace-sample", 1, "with --otlp-endpoint, the `ratio` of the traces begun here that are sampled; a call's caller decides for the traces it began")
}

// errorLog is an OpenTelemetry error handler that logs to log, at most
// once every interval, saying how many errors it left out: a collector
// that is down makes one error a batch.
func errorLog(log *slog.Logger, every time.Duration) otel.ErrorHandlerFunc {
	var mu sync.Mutex
	var last time.Time
	skipped := 0
	return func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if now := time.Now(); now.Sub(last) >= every {
			log.Warn("cannot send spans", "err", err, "errors_not_logged", skipped)
			last, skipped = now, 0
			return
		}
		skipped++
	}
}

// provider returns the TracerProvider of the flags, nil without
// --otlp-endpoint, and what flushes and stops it.
func (f *tracingFlags) provider(addr string, log *slog.Logger) (trace.TracerProvider, func(), error) {
	switch {
	case f.endpoint == "" && f.set("trace-sample"):
		return nil, nil, errors.New("--trace-sample goes with --otlp-endpoint")
	case f.endpoint == "":
		return nil, func() {}, nil
	case !(f.sample >= 0 && f.sample <= 1):
		return nil, nil, fmt.Errorf("bad --trace-sample %v: want a ratio from 0 to 1", f.sample)
	}
	exp, err := otlp.New(f.endpoint, &http.Client{Timeout: 10 * time.Second})
	if err != nil {
		return nil, nil, fmt.Errorf("--otlp-endpoint: %w", err)
	}
	// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win.
	res, err := resource.Merge(resource.NewSchemaless(
		attribute.String("service.name", "slacker-lua"),
		attribute.String("service.version", transport.ServerVersion),
		attribute.String("service.instance.id", addr),
	), resource.Environment())
	if err != nil {
		return nil, nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	otel.SetErrorHandler(errorLog(log, time.Minute)) // the SDK's handler is global: the command alone sets it
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(f.sample))),
		sdktrace.WithResource(res),
	)
	return tp, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tp.Shutdown(ctx); err != nil {
			log.Warn("cannot send the last spans", "err", err)
		}
	}, nil
}
