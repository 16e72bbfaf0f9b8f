package server

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/slacker-lua/slacker-lua/gateway"
	"github.com/slacker-lua/slacker-lua/metrics"
	"github.com/slacker-lua/slacker-lua/namespaces"
	"github.com/slacker-lua/slacker-lua/transport"
)

// httpServer is an HTTP listener: with Config.HTTP, the gateway to the
// served functions, the metrics and the health endpoints (see health);
// with Config.Metrics, the metrics and the health endpoints alone:
//
//	GET /metrics  the server's figures, in Prometheus' text format
//	GET /healthz  200 while the process serves
//	GET /readyz   200 once ready (see health for the rule)
type httpServer struct {
	srv     *http.Server
	mux     *http.ServeMux // until start
	ln      net.Listener
	started bool // Serve was called
	served  chan error
}

// newHTTPServer listens at cfg.HTTP for h's gateway, hl's health, and
// mets, within the bounds of cfg.Transport, with cfg.TLS.
func newHTTPServer(cfg Config, h transport.Handler, hl *health, mets *serverMetrics) (*httpServer, error) {
	tc := cfg.Transport
	gw, err := gateway.New(h, gateway.Config{MaxBodySize: tc.Limits.MaxBodySize, Authenticate: tc.Authenticate, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	web, err := listenHTTP(cfg, cfg.HTTP, cfg.TLS, hl, mets)
	if err != nil {
		return nil, err
	}
	web.mux.Handle("/", gw)
	return web, nil
}

// newMetricsServer listens at cfg.Metrics for hl's health and mets, in
// plain HTTP, within the bounds of cfg.Transport. Paths other than the
// three are not found.
func newMetricsServer(cfg Config, hl *health, mets *serverMetrics) (*httpServer, error) {
	return listenHTTP(cfg, cfg.Metrics, nil, hl, mets)
}

// listenHTTP listens at addr, with tlsCfg if set, for hl's health and
// mets' figures.
func listenHTTP(cfg Config, addr string, tlsCfg *tls.Config, hl *health, mets *serverMetrics) (*httpServer, error) {
	tc := cfg.Transport
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if tc.MaxConns > 0 {
		ln = gateway.LimitListener(ln, tc.MaxConns, cfg.Logger)
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	web := &httpServer{ln: ln, served: make(chan error, 1)}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", mets.Handler())
	mux.HandleFunc("GET /healthz", hl.healthz)
	mux.HandleFunc("GET /readyz", hl.readyz)
	web.mux = mux
	or := func(d, def time.Duration) time.Duration {
		if d == 0 {
			return def
		}
		return d
	}
	web.srv = &http.Server{
		Handler:           gateway.BodyTimeout(or(tc.FrameTimeout, transport.DefaultFrameTimeout), mux),
		ReadHeaderTimeout: or(tc.HandshakeTimeout, transport.DefaultHandshakeTimeout),
		IdleTimeout:       or(tc.IdleTimeout, transport.DefaultIdleTimeout),
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	return web, nil
}

// start serves.
func (h *httpServer) start() {
	h.started = true
	go func() { h.served <- h.srv.Serve(h.ln) }()
}

// shutdown stops taking requests, then waits for those running, until ctx
// is done.
func (h *httpServer) shutdown(ctx context.Context) error {
	err := h.srv.Shutdown(ctx)
	if err != nil {
		h.srv.Close()
	}
	return err
}

// close stops serving at once, and waits for Serve to return if it was
// started.
func (h *httpServer) close() {
	h.srv.Close()
	h.ln.Close()
	if h.started {
		<-h.served
	}
}

// serverMetrics are the figures of a server, with Config.HTTP or
// Config.Metrics.
type serverMetrics struct {
	*metrics.Metrics
	stop func()
}

// newMetrics returns the figures of a server of reg: its calls (counted
// by the interceptor the server and the gateway call through), the calls
// pending on each namespace, the files failing to load, and its reloads,
// which a goroutine follows until stop is called.
func newMetrics(reg *namespaces.Registry) *serverMetrics {
	mets := metrics.New()
	mets.Gauge("slacker_namespace_files_failing", "Namespace files whose version on disk fails to load now (their old version, if any, serving); see the status namespace for why.",
		func() float64 { return float64(len(reg.Failures())) })
	mets.GaugeVec("slacker_namespace_pending_calls", "Calls running on a Lua namespace or waiting for one of its VMs.", "namespace",
		func() map[string]float64 {
			out := make(map[string]float64)
			for ns, n := range reg.Pending() {
				out[ns] = float64(n)
			}
			return out
		})
	sub := reg.Subscribe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			ev, err := sub.Next(context.Background())
			if err != nil {
				return
			}
			switch ev.Kind {
			case namespaces.Added:
				mets.Reloaded("added")
			case namespaces.Updated:
				mets.Reloaded("updated")
			case namespaces.Removed:
				mets.Reloaded("removed")
			case namespaces.Failed:
				mets.Reloaded("failed")
			}
		}
	}()
	return &serverMetrics{mets, func() {
		sub.Close()
		<-done
	}}
}

// gauges adds the figures of the binary protocol's connections and, in a
// cluster, of the ZooKeeper session.
func (m *serverMetrics) gauges(srv *transport.Server, member *membership) {
	m.Gauge("slacker_connections", "Connections of the binary protocol open now.", func() float64 { return float64(len(srv.Clients())) })
	if member == nil {
		return
	}
	m.Gauge("slacker_zookeeper_connected", "1 while the server has a ZooKeeper session, else 0.", func() float64 {
		if member.zk.health(member.m).Connected {
			return 1
		}
		return 0
	})
	m.Counter("slacker_zookeeper_sessions_total", "ZooKeeper sessions the server has registered in; more than one means sessions were lost.", func() float64 {
		return float64(member.m.Sessions())
	})
	m.Counter("slacker_zookeeper_session_expiries_total", "ZooKeeper sessions lost: expired by ZooKeeper, or given up after the session timeout without a connection.", func() float64 {
		return float64(max(member.m.Sessions()-1, 0))
	})
	m.Counter("slacker_zookeeper_connection_losses_total", "Times the server was seen losing its connection to ZooKeeper (it is looked at every 100 ms, and at each scrape).", func() float64 {
		return float64(member.zk.lost())
	})
}

// slowCalls logs the calls that take longer than threshold.
func slowCalls(threshold time.Duration, log *slog.Logger) transport.Interceptor {
	return func(next transport.CallFunc) transport.CallFunc {
		return func(ctx context.Context, name string, args []any) (any, error) {
			start := time.Now()
			res, err := next(ctx, name, args)
			if took := time.Since(start); took > threshold {
				log.Warn("slow call", "name", name, "took", took.Round(time.Microsecond).String(), "code", transport.CodeOf(err).String())
			}
			return res, err
		}
	}
}
