package metrics

import (
	"context"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/slacker-lua/slacker-lua/tracectx"
	"github.com/slacker-lua/slacker-lua/transport"
)

// Metrics is a server's figures. The zero value is not usable: call New.
type Metrics struct {
	reg      *prometheus.Registry
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
	reloads  *prometheus.CounterVec
}

// New returns the figures of a server, with the Go runtime's and the
// process's own.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slacker_calls_total",
			Help: "Calls served, by namespace, function and result code; calls of functions not served count under empty names.",
		}, []string{"namespace", "function", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "slacker_call_duration_seconds",
			Help:    "How long calls took to run, by namespace and function.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"namespace", "function"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "slacker_calls_in_flight",
			Help: "Calls running now.",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slacker_reloads_total",
			Help: "Namespace files loaded (added, updated), removed, and failed to load.",
		}, []string{"result"}),
	}
	m.reg.MustRegister(m.calls, m.duration, m.inFlight, m.reloads, buildInfo(),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// buildInfo is slacker_build_info, always 1, whose labels say what was
// built: the main module's version ("(devel)" for a build from a clone),
// the VCS revision it was built from ("" if unknown; "-dirty" follows it
// when the tree had changes), and the Go version.
func buildInfo() prometheus.Collector {
	version, revision, goversion := "", "", runtime.Version()
	if bi, ok := debug.ReadBuildInfo(); ok {
		version, goversion = bi.Main.Version, bi.GoVersion
		dirty := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if dirty && revision != "" {
			revision += "-dirty"
		}
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "slacker_build_info",
		Help:        "Always 1; its labels name the server's version, the VCS revision it was built from, and the Go version.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": goversion},
	})
	g.Set(1)
	return g
}

// Interceptor counts and times the calls it sees.
func (m *Metrics) Interceptor() transport.Interceptor {
	return func(next transport.CallFunc) transport.CallFunc {
		return func(ctx context.Context, name string, args []any) (any, error) {
			m.inFlight.Inc()
			start := time.Now()
			res, err := next(ctx, name, args)
			took := time.Since(start)
			m.inFlight.Dec()
			code := transport.CodeOf(err)
			ns, fn := "", ""
			if code != transport.CodeNotFound {
				// Only served names become labels: a caller can't make up
				// series.
				ns, fn, _ = strings.Cut(name, "/")
				obs := m.duration.WithLabelValues(ns, fn)
				if id := sampledTrace(ctx); id != "" {
					// An exemplar: the trace of a sampled call, in
					// OpenMetrics' answers.
					obs.(prometheus.ExemplarObserver).ObserveWithExemplar(took.Seconds(), prometheus.Labels{"trace_id": id})
				} else {
					obs.Observe(took.Seconds())
				}
			}
			m.calls.WithLabelValues(ns, fn, code.String()).Inc()
			return res, err
		}
	}
}

// sampledTrace returns the trace id of the call of ctx if it is sampled,
// else "".
func sampledTrace(ctx context.Context) string {
	if !tracectx.Sampled(ctx) {
		return ""
	}
	return tracectx.From(ctx).TraceID()
}

// Reloaded counts a namespace file loaded, removed or failed: result is
// "added", "updated", "removed" or "failed".
func (m *Metrics) Reloaded(result string) {
	m.reloads.WithLabelValues(result).Inc()
}

// Gauge adds a gauge whose value is f's at each scrape.
func (m *Metrics) Gauge(name, help string, f func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
}

// Counter adds a counter whose value is f's at each scrape.
func (m *Metrics) Counter(name, help string, f func() float64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f))
}

// GaugeVec adds gauges with one label, whose values are f's at each
// scrape: a gauge for each key of the map f returns.
func (m *Metrics) GaugeVec(name, help, label string, f func() map[string]float64) {
	m.reg.MustRegister(&mapCollector{desc: prometheus.NewDesc(name, help, []string{label}, nil), f: f})
}

// Handler serves the figures at /metrics: in Prometheus' text format, or
// in OpenMetrics' to a scraper that asks for it, with the exemplars of
// the duration histogram (the trace ids of sampled calls).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
}

// mapCollector collects the gauges of a map.
type mapCollector struct {
	desc *prometheus.Desc
	f    func() map[string]float64
}

func (c *mapCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *mapCollector) Collect(ch chan<- prometheus.Metric) {
	for k, v := range c.f() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, k)
	}
}
