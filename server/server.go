package server

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/slacker-lua/slacker-lua/engine"
	"github.com/slacker-lua/slacker-lua/internal/bytesize"
	"github.com/slacker-lua/slacker-lua/namespaces"
	"github.com/slacker-lua/slacker-lua/slackerotel"
	"github.com/slacker-lua/slacker-lua/transport"
)

// ErrServerClosed is returned by [Server.Run] once [Server.Shutdown] or
// [Server.Close] was called.
var ErrServerClosed = errors.New("server: closed")

// Server is a whole slacker-lua server: the namespaces of a folder,
// followed as it changes, served over slacker's protocol and, with
// Config.HTTP, over HTTP, and, with Config.Cluster, registered in a
// cluster. Make one with [New], then [Server.Run] it.
//
// Shutting down, gracefully, goes in this order (Shutdown):
//  1. /readyz answers 503, so that load balancers stop sending requests;
//  2. the server leaves the cluster, then serves on for the leave delay,
//     so that cluster clients stop sending calls before it stops taking
//     them;
//  3. the HTTP listeners and the binary one stop taking connections, and
//     wait for the requests and calls running;
//  4. Run closes what is left: the cluster membership first, then the
//     rest in the reverse of the order it started it: the listeners, the
//     metrics, the namespaces (and their watcher), and the cluster client
//     of slacker.call.
//
// Close, and the end of Run's ctx, skip the first three steps; a Close
// while Shutdown waits cuts the wait short.
type Server struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	started  bool               // Run was called
	closed   bool               // Shutdown or Close was called
	stopLoad context.CancelFunc // cancels Run's loading; nil outside Run
	closing  chan struct{}      // closed by the first Shutdown or Close
	drained  chan struct{}      // closed once Shutdown has drained, or by Close: see drain
	drainer  sync.Once
	ready    chan struct{} // closed once Run serves
	done     chan struct{} // closed when Run returns

	// Set by Run before ready is closed, and not changed after.
	reg     *namespaces.Registry
	watcher *namespaces.Watcher
	srv     *transport.Server
	ln      net.Listener
	web     *httpServer    // nil without Config.HTTP
	mweb    *httpServer    // nil without Config.Metrics
	health  *health        // nil without either
	member  *membership    // nil outside a cluster
	caller  *clusterCaller // nil outside a cluster
	stops   []func()       // of what Run started, in order
}

// New checks cfg and returns a server of it. Every configuration error is
// reported here, before anything is loaded or bound.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Server{
		cfg:     cfg,
		log:     cfg.Logger,
		closing: make(chan struct{}),
		drained: make(chan struct{}),
		ready:   make(chan struct{}),
		done:    make(chan struct{}),
	}, nil
}

// Run loads the folder's namespaces, listens, joins the cluster, and
// serves until ctx ends (then it closes at once and returns ctx's error),
// a listener fails (it returns that error), or [Server.Shutdown] or
// [Server.Close] is called (it returns ErrServerClosed once they are
// done). Loading stops when ctx ends or Shutdown is called. Run may be
// called once.
func (s *Server) Run(ctx context.Context) error {
	lctx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	s.mu.Lock()
	switch {
	case s.started:
		s.mu.Unlock()
		return errors.New("server: Run called twice")
	case s.closed:
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.started, s.stopLoad = true, stopLoad
	s.mu.Unlock()
	defer close(s.done)
	defer s.teardown()

	err := s.start(lctx)
	if err != nil {
		if s.isClosing() {
			return ErrServerClosed
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	served := make(chan error, 1)
	go func() { served <- s.srv.Serve(s.ln) }()
	s.stops = append(s.stops, func() { s.srv.Close(); <-served })
	var webServed, metricsServed <-chan error // nil without HTTP: never receive
	if s.health != nil {
		s.health.ready.Store(true)
	}
	if s.web != nil {
		s.web.start()
		webServed = s.web.served
		s.log.Info("serving HTTP", "http", s.web.ln.Addr().String())
	}
	if s.mweb != nil {
		s.mweb.start()
		metricsServed = s.mweb.served
		s.log.Info("serving metrics and health", "metrics", s.mweb.ln.Addr().String())
	}
	close(s.ready)
	s.log.Info("serving", "addr", s.ln.Addr().String(), "version", transport.ServerVersion,
		"tls", s.cfg.TLS != nil, "tokens", s.cfg.Transport.Authenticate != nil)
	// A value taken from served or webServed is put back: the stops of
	// teardown wait for it.
	select {
	case err = <-served:
		served <- err
		err = fmt.Errorf("serving: %w", err)
	case err = <-webServed:
		s.web.served <- err
		err = fmt.Errorf("serving HTTP: %w", err)
	case err = <-metricsServed:
		s.mweb.served <- err
		err = fmt.Errorf("serving metrics: %w", err)
	case <-s.closing:
	case <-ctx.Done():
		return ctx.Err()
	}
	if s.isClosing() { // Serve's error is Shutdown's or Close's doing
		select {
		case <-s.drained:
		case <-ctx.Done():
		}
		return ErrServerClosed
	}
	return err
}

// start loads the namespaces, then listens and joins the cluster, adding
// to s.stops what teardown stops.
func (s *Server) start(ctx context.Context) error {
	begin := time.Now()
	ecfg := s.cfg.Engine
	if s.cfg.Cluster.enabled() {
		s.caller = newClusterCaller(s.cfg.Cluster, s.cfg.TracerProvider, s.log)
		s.stops = append(s.stops, s.caller.close)
		ecfg.Caller = s.caller
	}
	reg, err := namespaces.Open(ctx, s.cfg.Dir, namespaces.Config{Engine: ecfg, Logger: s.log})
	if err != nil {
		return fmt.Errorf("cannot load the namespaces of %s: %w", s.cfg.Dir, err)
	}
	s.reg = reg
	s.stops = append(s.stops, reg.Close)
	if s.caller != nil {
		s.caller.local.Store(reg)
	}
	s.log.Info("namespaces loaded", "dir", s.cfg.Dir, "namespaces", len(reg.Namespaces()),
		"failed", len(reg.Failures()), "took", time.Since(begin).Round(time.Millisecond).String(),
		"max_call_memory", bytesize.Format(cmp.Or(ecfg.MaxCallMemory, engine.DefaultMaxCallMemory)), "max_memory", bytesize.Format(ecfg.MaxMemory))
	for ns, fns := range s.cfg.Go {
		if err := reg.SetGo(ns, fns); err != nil {
			return fmt.Errorf("server: %w", err) // checked by New: not expected
		}
	}
	if err := reg.ServeStatus(); err != nil {
		return fmt.Errorf("cannot serve the status namespace: %w", err)
	}
	if s.watcher, err = reg.Watch(ctx, s.cfg.Watch); err != nil {
		return fmt.Errorf("cannot watch %s: %w", s.cfg.Dir, err)
	}
	s.log.Info("watching for changes", "dir", s.cfg.Dir, "watch", modeName(s.cfg.Watch.Mode))
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.listen()
}

// listen makes the listeners, the transport server and the membership.
func (s *Server) listen() error {
	var mets *serverMetrics
	ics := slices.Clone(s.cfg.Interceptors)
	if s.cfg.HTTP != "" || s.cfg.Metrics != "" {
		mets = newMetrics(s.reg)
		s.health = &health{reg: s.reg}
		s.stops = append(s.stops, mets.stop)
		ics = append([]transport.Interceptor{mets.Interceptor()}, ics...)
	}
	if s.cfg.SlowCall > 0 {
		ics = append(ics, slowCalls(s.cfg.SlowCall, s.log))
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("cannot listen for the binary protocol: %w", err)
	}
	if tp := s.cfg.TracerProvider; tp != nil {
		// Outermost: the other interceptors, and the server's metrics,
		// run within the call's span.
		addr, _, _ := advertised(s.cfg.Cluster.Advertise, ln.Addr())
		ics = append([]transport.Interceptor{slackerotel.Server(tp, slackerotel.ServerConfig{Addr: addr})}, ics...)
	}
	handler := transport.Intercept(s.reg, ics...)
	srv, err := transport.NewServer(handler, s.cfg.Transport)
	if err != nil {
		ln.Close()
		return fmt.Errorf("server: %w", err) // checked by New: not expected
	}
	s.srv = srv
	if s.cfg.TLS != nil {
		ln = tls.NewListener(ln, s.cfg.TLS)
	}
	s.ln = ln
	s.stops = append(s.stops, func() { ln.Close() }) // until Serve has it
	if s.cfg.HTTP != "" {
		if s.web, err = newHTTPServer(s.cfg, handler, s.health, mets); err != nil {
			return fmt.Errorf("cannot serve HTTP: %w", err)
		}
		s.stops = append(s.stops, s.web.close)
	}
	if s.cfg.Metrics != "" {
		if s.mweb, err = newMetricsServer(s.cfg, s.health, mets); err != nil {
			return fmt.Errorf("cannot serve the metrics: %w", err)
		}
		s.stops = append(s.stops, s.mweb.close)
	}
	if s.cfg.Cluster.enabled() {
		var web net.Addr
		if s.web != nil {
			web = s.web.ln.Addr()
		}
		if s.member, err = joinCluster(s.cfg.Cluster, ln.Addr(), web, s.cfg.TLS != nil, s.reg, s.log); err != nil {
			return fmt.Errorf("cannot join the cluster: %w", err)
		}
		s.stops = append(s.stops, s.member.close)
	}
	if s.health != nil {
		s.health.member = s.member
		mets.gauges(srv, s.member)
	}
	if s.web != nil {
		if s.cfg.AdminAuthenticate != nil {
			s.web.mux.Handle("/_admin/", adminHandler(s.member, s.cfg.AdminAuthenticate))
		}
	}
	return nil
}

// teardown stops what Run started: the membership first, so that the
// cluster stops sending calls, then the rest, last first.
func (s *Server) teardown() {
	if s.member != nil {
		s.member.close()
	}
	for i := len(s.stops) - 1; i >= 0; i-- {
		s.stops[i]()
	}
}

// Shutdown stops the server gracefully, in the order [Server] gives:
// it waits for the calls and requests running until ctx ends, then cuts
// off those left and returns ctx's error. It returns once Run has
// returned. Called while Run loads, it stops the loading; called after
// Run returned, it does nothing.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.beginClose() {
		return s.wait()
	}
	select {
	case <-s.done:
		return nil
	case <-s.ready:
	default: // not serving: nothing to drain
		s.drain()
		return s.wait()
	}
	var errs []error
	if s.health != nil {
		s.health.ready.Store(false) // /readyz answers 503
	}
	if s.member != nil {
		s.member.leave(ctx)
	}
	for _, web := range []*httpServer{s.web, s.mweb} {
		if web == nil {
			continue
		}
		if err := web.shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("HTTP requests cut off: %w", err))
		}
	}
	if err := s.srv.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("calls cut off: %w", err))
	}
	s.drain()
	errs = append(errs, s.wait())
	return errors.Join(errs...)
}

// Close stops the server at once: calls running are cancelled, and a
// Shutdown waiting for them stops waiting. It returns once Run has
// returned. Close may be called more than once.
func (s *Server) Close() error {
	s.beginClose()
	s.drain()
	return s.wait()
}

// drain lets Run go on to its teardown, once.
func (s *Server) drain() { s.drainer.Do(func() { close(s.drained) }) }

// beginClose marks the server closed and stops Run's loading; it reports
// whether it was the first to.
func (s *Server) beginClose() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.closed = true
	close(s.closing)
	if s.stopLoad != nil {
		s.stopLoad()
	}
	return true
}

// wait waits for Run to return, if it was called. Run's teardown is
// bounded: the calls it waits for are cancelled.
func (s *Server) wait() error {
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	if started {
		<-s.done
	}
	return nil
}

func (s *Server) isClosing() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}

// Ready returns a channel closed once the server serves: the namespaces
// are loaded and the listeners bound. It is never closed when Run fails
// first: wait for Run's error beside it.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// MetricsAddr returns the address of the metrics listener; nil without
// Config.Metrics, and until the server serves.
func (s *Server) MetricsAddr() net.Addr {
	select {
	case <-s.ready:
		if s.mweb != nil {
			return s.mweb.ln.Addr()
		}
	default:
	}
	return nil
}

// Addr returns the address the binary protocol listens at; nil until the
// server serves.
func (s *Server) Addr() net.Addr {
	select {
	case <-s.ready:
		return s.ln.Addr()
	default:
		return nil
	}
}

// HTTPAddr returns the address of the HTTP listener; nil without
// Config.HTTP, and until the server serves.
func (s *Server) HTTPAddr() net.Addr {
	select {
	case <-s.ready:
		if s.web != nil {
			return s.web.ln.Addr()
		}
	default:
	}
	return nil
}

// Rescan looks through the folder again, as its watcher does after a
// change, and tries the files that failed again (the CLI does it on
// SIGHUP). It fails until the server serves.
func (s *Server) Rescan(ctx context.Context) error {
	select {
	case <-s.ready:
	default:
		return errors.New("not serving yet")
	}
	start := time.Now()
	if err := s.watcher.Rescan(ctx); err != nil {
		return err
	}
	s.log.Info("rescanned", "namespaces", len(s.reg.Namespaces()), "failed", len(s.reg.Failures()),
		"took", time.Since(start).Round(time.Microsecond).String())
	return nil
}

// modeName names a watch mode as the CLI's --watch does.
func modeName(m namespaces.WatchMode) string {
	switch m {
	case namespaces.WatchPoll:
		return "poll"
	case namespaces.WatchManual:
		return "off"
	}
	return "events"
}
