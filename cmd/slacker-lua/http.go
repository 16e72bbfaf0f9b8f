package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/slacker-lua/slacker-lua/gateway"
	"github.com/slacker-lua/slacker-lua/namespaces"
)

// httpServer is serve's HTTP listener, with --http: the gateway to the
// served functions, and the health endpoints:
//
//	GET /healthz  200 while the process serves
//	GET /readyz   200 once the namespaces are loaded and, in a cluster,
//	              registered in ZooKeeper; 503 before, and once stopping
type httpServer struct {
	srv    *http.Server
	ln     net.Listener
	reg    *namespaces.Registry
	member *membership // nil outside a cluster
	ready  atomic.Bool
	served chan error
}

// readyTimeout bounds how long /readyz waits for ZooKeeper to confirm the
// registrations.
const readyTimeout = time.Second

func newHTTPServer(addr string, reg *namespaces.Registry, maxBody int, log *slog.Logger) (*httpServer, error) {
	gw, err := gateway.New(reg, gateway.Config{MaxBodySize: maxBody, Logger: log})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	h := &httpServer{ln: ln, reg: reg, served: make(chan error, 1)}
	mux := http.NewServeMux()
	mux.Handle("/", gw)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", h.readyz)
	h.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return h, nil
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
