package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/slacker-lua/slacker-lua/gateway"
	"github.com/slacker-lua/slacker-lua/metrics"
	"github.com/slacker-lua/slacker-lua/namespaces"
	"github.com/slacker-lua/slacker-lua/transport"
)

// httpServer is the HTTP listener, with Config.HTTP: the gateway to the
// served functions, the metrics and the health endpoints:
//
//	GET /metrics  the server's figures, in Prometheus' text format
//	GET /healthz  200 while the process serves
//	GET /readyz   200 once the namespaces are loaded and, in a cluster,
//	              registered in ZooKeeper; 503 before, and once stopping
type httpServer struct {
	srv     *http.Server
	mux     *http.ServeMux // until start
	ln      net.Listener
	reg     *namespaces.Registry
	member  *membership // nil outside a cluster
	ready   atomic.Bool
	started bool // Serve was called
	served  chan error
}

// readyTimeout bounds how long /readyz waits for ZooKeeper to confirm the
// registrations.
const readyTimeout = time.Second

// newHTTPServer listens at cfg.HTTP for h's gateway, reg's health, and
// mets, within the bounds of cfg.Transport.
func newHTTPServer(cfg Config, h transport.Handler, reg *namespaces.Registry, mets *serverMetrics) (*httpServer, error) {
	tc := cfg.Transport
	gw, err := gateway.New(h, gateway.Config{MaxBodySize: tc.Limits.MaxBodySize, Authenticate: tc.Authenticate, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.HTTP)
	if err != nil {
		return nil, err
	}
	if tc.MaxConns > 0 {
		ln = gateway.LimitListener(ln, tc.MaxConns, cfg.Logger)
	}
	if cfg.TLS != nil {
		ln = tls.NewListener(ln, cfg.TLS)
	}
	web := &httpServer{ln: ln, reg: reg, served: make(chan error, 1)}
	mux := http.NewServeMux()
	mux.Handle("/", gw)
	mux.Handle("GET /metrics", mets.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", web.readyz)
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

// start serves; ready says /readyz may answer 200.
func (h *httpServer) start() {
	h.ready.Store(true)
	h.started = true
	go func() { h.served <- h.srv.Serve(h.ln) }()
}

func (h *httpServer) readyz(w http.ResponseWriter, r *http.Request) {
	if !h.ready.Load() {
		http.Error(w, "not ready: stopping", http.StatusServiceUnavailable)
		return
	}
	if h.member != nil {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := h.member.m.Sync(ctx); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	fmt.Fprintf(w, "ready: %d namespaces, %d failed\n", len(h.reg.Namespaces()), len(h.reg.Failures()))
}

// stopping makes /readyz answer 503, so that load balancers stop sending
// requests while the server still serves them.
func (h *httpServer) stopping() { h.ready.Store(false) }

// shutdown stops taking requests, then waits for those running, until ctx
// is done.
func (h *httpServer) shutdown(ctx context.Context) error {
	h.stopping()
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

// serverMetrics are the figures of a server, with Config.HTTP.
type serverMetrics struct {
	*metrics.Metrics
	stop func()
}

// newMetrics returns the figures of a server of reg: its calls (counted
// by the interceptor the server and the gateway call through), the calls
// pending on each namespace, and its reloads, which a goroutine follows
// until stop is called.
func newMetrics(reg *namespaces.Registry) *serverMetrics {
	mets := metrics.New()
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
		if member.m.Connected() {
			return 1
		}
		return 0
	})
	m.Counter("slacker_zookeeper_sessions_total", "ZooKeeper sessions the server has registered in; more than one means sessions were lost.", func() float64 {
		return float64(member.m.Sessions())
	})
}

// slowCalls logs the calls that take longer than threshold.
func slowCalls(threshold time.Duration, log *slog.Logger) transport.Interceptor {
	return func(next transport.CallFunc) transport.CallFunc {
		return func(ctx context.Context, name string, args []any) (any, error) {
			start := time.Now()
			res, err := next(ctx, name, args)
			if took := time.Since(start); took > threshold {
				log.Warn("slow call", "name", name, "took", took.Round(time.Microsecond), "code", transport.CodeOf(err).String())
			}
			return res, err
		}
	}
}
