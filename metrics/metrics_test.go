package metrics_test

import (
	"context"
	"io"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/slacker-lua/slacker-lua/metrics"
	"github.com/slacker-lua/slacker-lua/tracectx"
)

// TestBuildInfo checks that slacker_build_info is 1 with its three labels.
func TestBuildInfo(t *testing.T) {
	m := metrics.New()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	var line string
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, "slacker_build_info{") {
			line = l
		}
	}
	if !strings.Contains(line, `goversion="`+runtime.Version()+`"`) || !strings.Contains(line, `revision="`) ||
		!strings.Contains(line, `version="`) || !strings.HasSuffix(line, "} 1") {
		t.Errorf("slacker_build_info: %q", line)
	}
}

// TestExemplars checks that a sampled call's duration carries its trace
// id, as an exemplar in OpenMetrics' answers, and that others carry none.
func TestExemplars(t *testing.T) {
	m := metrics.New()
	call := m.Interceptor()(func(context.Context, string, []any) (any, error) { return nil, nil })
	sampled := tracectx.With(context.Background(), tracectx.Context{Parent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
	notSampled := tracectx.With(context.Background(), tracectx.Context{Parent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"})
	call(notSampled, "a/f", nil)
	call(sampled, "b/f", nil)
	scrape := func(accept string) string {
		r := httptest.NewRequest("GET", "/metrics", nil)
		r.Header.Set("Accept", accept)
		w := httptest.NewRecorder()
		m.Handler().ServeHTTP(w, r)
		return w.Body.String()
	}
	om := scrape("application/openmetrics-text; version=1.0.0; charset=utf-8")
	if !strings.Contains(om, `trace_id="4bf92f3577b34da6a3ce929d0e0e4736"`) || strings.Contains(om, "0af7651916cd43dd8448eb211c80319c") {
		t.Errorf("OpenMetrics exemplars:\n%s", grep(om, "slacker_call_duration"))
	}
	if text := scrape("text/plain"); strings.Contains(text, "trace_id") {
		t.Errorf("the text format has exemplars:\n%s", grep(text, "trace_id"))
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
