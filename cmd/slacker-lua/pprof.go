package main

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// pprofServer serves the Go runtime's profiles (net/http/pprof) on a
// listener of their own, with --pprof: they tell much of the process and
// can take its CPU for as long as asked, so they are kept off the public
// listeners and are best bound to loopback.
type pprofServer struct {
	srv    *http.Server
	served chan error
	log    *slog.Logger
}

// startPprof serves the profiles at addr under /debug/pprof/.
func startPprof(addr string, log *slog.Logger) (*pprofServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index) // and every named profile under it
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	p := &pprofServer{
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		},
		served: make(chan error, 1),
		log:    log,
	}
	go func() { p.served <- p.srv.Serve(ln) }()
	bound := ln.Addr().(*net.TCPAddr)
	log.Info("serving profiles", "pprof", bound.String())
	if !bound.IP.IsLoopback() {
		log.Warn("profiles are served beyond loopback, to anyone, without TLS or tokens", "pprof", bound.String())
	}
	return p, nil
}

// close stops serving the profiles, cutting off those being taken.
func (p *pprofServer) close() {
	p.srv.Close()
	if err := <-p.served; !errors.Is(err, http.ErrServerClosed) {
		p.log.Error("profiles' server stopped", "err", err)
	}
}
