package main

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

// httpServer is serve's HTTP listener, with --http: the gateway to the
// served functions, the metrics and the health endpoints:
//
//	GET /metrics  the server's figures, in Prometheus' text format
//	GET /healthz  200 while the process serves
//	GET /readyz   200 once the namespaces are loaded and, in a cluster,
//	              registered in ZooKeeper; 503 before, and once stopping
type httpServer struct {
	srv    *http.Server
	mux    *http.ServeMux // until start
	ln     net.Listener
	reg    *namespaces.Registry
	member *membership // nil outside a cluster
	ready  atomic.Bool
	served chan error
}

// readyTimeout bounds how long /readyz waits for ZooKeeper to confirm the
// registrations.
const readyTimeout = time.Second

// httpLimits bound the HTTP listener: its bodies, its connections (none
// when 0), and how long a request's headers, its body and the wait for
// the next request may take.
type httpLimits struct {
	maxBody, maxConns  int
	header, body, idle time.Duration
}

// newHTTPServer listens at addr for h's gateway, whose calls mets counts,
// reg's health, and mets.
func newHTTPServer(addr string, h transport.Handler, reg *namespaces.Registry, mets *metrics.Metrics, lim httpLimits,
	tlsCfg *tls.Config, authenticate func(string) bool, log *slog.Logger) (*httpServer, error) {
	gw, err := gateway.New(h, gateway.Config{MaxBodySize: lim.maxBody, Authenticate: authenticate, Logger: log})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if lim.maxConns > 0 {
		ln = gateway.LimitListener(ln, lim.maxConns, log)
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
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
	web.srv = &http.Server{
		Handler:           gateway.BodyTimeout(lim.body, mux),
		ReadHeaderTimeout: lim.header,
		IdleTimeout:       lim.idle,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return web, nil
}

// newMetrics returns the figures of a server of reg: its calls (counted
// by the interceptor the server and the gateway call through), the
// calls pending on each namespace, and its reloads, which a goroutine
// follows until the returned stop is called.
func newMetrics(reg *namespaces.Registry) (mets *metrics.Metrics, stop func()) {
	mets = metrics.New()
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
	return mets, func() {
		sub.Close()
		<-done
	}
}

// start serves; ready says /readyz may answer 200.
func (h *httpServer) start() {
	h.ready.Store(true)
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
	<-h.served
	return err
}
