package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/slacker-lua/slacker-lua/engine"
	"github.com/slacker-lua/slacker-lua/metrics"
	"github.com/slacker-lua/slacker-lua/namespaces"
	"github.com/slacker-lua/slacker-lua/transport"
)

const version = transport.ServerVersion

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("serve", "[flags] DIR",
		"Serves every .lua file under DIR as a namespace: DIR/a/b/c.lua (or DIR/a.b.c.lua)\n"+
			"serves namespace a.b.c. Modules for require live in DIR/"+namespaces.LibDir+".\n\n"+
			"Files added, changed, renamed or removed while serving are followed at once: a\n"+
			"changed file is loaded in full, then swapped in; calls running finish on the old\n"+
			"version. A file that fails to load is logged and leaves its old version serving;\n"+
			"`slacker-lua status ADDR` lists such files. SIGHUP looks through DIR again and\n"+
			"retries failed files. SIGINT and SIGTERM stop the server gracefully.\n\n"+
			"With --zk and --cluster, the server registers in ZooKeeper each namespace it\n"+
			"serves, as it serves it, under ZK-ROOT/CLUSTER/namespaces/NS/HOST:PORT.\n\n"+
			"With --http, the functions are served over HTTP too: POST /NS/FN.json (or\n"+
			".msgpack) with the arguments as an array in the body answers the result;\n"+
			"GET / lists the functions; GET /metrics has the server's figures for\n"+
			"Prometheus, GET /healthz and /readyz are for health checks.", stderr)
	listen := fs.String("listen", "127.0.0.1:2104", "`address` to listen on; \":2104\" listens on every interface")
	poolSize := fs.Int("pool-size", 0, "Lua VMs per namespace (0: one per CPU); a file's _options.pool_size wins")
	queueSize := fs.Int("queue-size", 0, "calls that may wait for a busy namespace before thread-pool-full (0: 256)")
	timeout := fs.Duration("timeout", 10*time.Second, "longest a call may run unless its namespace says otherwise")
	maxBody := fs.Int("max-body", transport.DefaultMaxBodySize, "largest request or response body, in `bytes`")
	maxString := fs.Int("max-string", 16<<20, "longest string Lua's string functions may build, in `bytes`")
	var mem memoryFlags
	mem.register(fs)
	maxInFlight := fs.Int("max-in-flight", transport.DefaultMaxInFlight, "calls running at once per connection before the server stops reading it")
	unsafeLibs := fs.Bool("unsafe-libs", false, "open Lua's io, os, debug and package libraries (trusted code only)")
	shutdownTimeout := fs.Duration("shutdown-timeout", 30*time.Second, "how long calls in flight may take to finish on SIGINT or SIGTERM")
	watch := fs.String("watch", "events", "how to follow changes to DIR: events (inotify), poll (for network mounts), or off (only on SIGHUP)")
	pollInterval := fs.Duration("poll-interval", namespaces.DefaultPoll, "how often --watch poll looks through DIR")
	var cf clusterFlags
	cf.register(fs)
	maxConns := fs.Int("max-conns", 0, "connections served at once on each listener, --listen's and --http's; past it new ones are closed at once (0: no bound)")
	handshakeTimeout := fs.Duration("handshake-timeout", transport.DefaultHandshakeTimeout, "how long a new connection has to send a first frame and, with --token-file, an accepted token; over HTTP, a request's headers")
	idleTimeout := fs.Duration("idle-timeout", transport.DefaultIdleTimeout, "how long a connection may stay open with no call in flight and nothing sent (pings count); over HTTP, between requests")
	frameTimeout := fs.Duration("frame-timeout", transport.DefaultFrameTimeout, "how long a frame may take to arrive once begun; over HTTP, a request's body")
	slowCall := fs.Duration("slow-call", 0, "log every call that takes longer than this, with its time (0: none)")
	var sec serverSecurity
	sec.register(fs)
	httpAddr := fs.String("http", "", "`address` of the HTTP gateway and health endpoints, such as 127.0.0.1:2105; none if empty")
	pprofAddr := fs.String("pprof", "", "`address` to serve Go's profiles at, under /debug/pprof/, such as 127.0.0.1:6060; none if empty")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "slacker-lua serve: want exactly one folder to serve")
		fs.Usage()
		return exitUsage
	}
	log, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintln(stderr, "slacker-lua serve:", err)
		return exitUsage
	}
	if err := cf.check(); err != nil {
		fmt.Fprintln(stderr, "slacker-lua serve:", err)
		return exitUsage
	}
	callMemory, maxMemory, err := mem.apply()
	if err != nil {
		fmt.Fprintln(stderr, "slacker-lua serve:", err)
		return exitUsage
	}
	tlsCfg, errTLS := sec.tlsConfig()
	authenticate, errTokens := sec.authenticator()
	adminAuth, errAdmin := sec.adminAuthenticator()
	if err := errors.Join(errTLS, errTokens, errAdmin); err != nil {
		fmt.Fprintln(stderr, "slacker-lua serve:", err)
		return exitUsage
	}
	if adminAuth != nil && (*httpAddr == "" || cf.zk == "") {
		fmt.Fprintln(stderr, "slacker-lua serve: --admin-token-file goes with --http and --zk")
		return exitUsage
	}
	if *maxConns < 0 || *slowCall < 0 {
		fmt.Fprintln(stderr, "slacker-lua serve: --max-conns and --slow-call can't be negative")
		return exitUsage
	}
	if *handshakeTimeout <= 0 || *idleTimeout <= 0 || *frameTimeout <= 0 {
		fmt.Fprintln(stderr, "slacker-lua serve: --handshake-timeout, --idle-timeout and --frame-timeout must be positive")
		return exitUsage
	}
	var wcfg namespaces.WatchConfig
	switch *watch {
	case "events":
		wcfg.Mode = namespaces.WatchEvents
	case "poll":
		wcfg.Mode = namespaces.WatchPoll
	case "off":
		wcfg.Mode = namespaces.WatchManual
	default:
		fmt.Fprintf(stderr, "slacker-lua serve: bad --watch %q: want events, poll or off\n", *watch)
		return exitUsage
	}
	switch {
	case *pollInterval <= 0:
		fmt.Fprintf(stderr, "slacker-lua serve: bad --poll-interval %v: want a positive duration\n", *pollInterval)
		return exitUsage
	case isSet(fs, "poll-interval") && wcfg.Mode != namespaces.WatchPoll:
		fmt.Fprintln(stderr, "slacker-lua serve: --poll-interval goes with --watch poll")
		return exitUsage
	}
	wcfg.Poll = *pollInterval
	if cf.zk != "" {
		wcfg.Drain = cf.leaveDelay // unregistered, then drained, then dropped
	}
	// From here on SIGHUP means rescan, not the end of the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	dir := fs.Arg(0)

	start := time.Now()
	var caller *clusterCaller // slacker.call's, with --zk
	var ecaller engine.Caller // nil: the registry
	if cf.zk != "" {
		caller = newClusterCaller(&cf, log)
		defer caller.close()
		ecaller = caller
	}
	reg, err := namespaces.Open(ctx, dir, namespaces.Config{
		Engine: engine.Config{
			Caller:        ecaller,
			PoolSize:      *poolSize,
			QueueSize:     *queueSize,
			Timeout:       *timeout,
			MaxStringSize: *maxString,
			MaxCallMemory: callMemory,
			MaxMemory:     maxMemory,
			UnsafeLibs:    *unsafeLibs,
			Logger:        log,
		},
		Logger: log,
	})
	if err != nil {
		log.Error("cannot load namespaces", "dir", dir, "err", err)
		return exitError
	}
	defer reg.Close()
	if caller != nil {
		caller.local.Store(reg)
	}
	log.Info("namespaces loaded", "dir", dir, "namespaces", len(reg.Namespaces()),
		"failed", len(reg.Failures()), "took", time.Since(start).Round(time.Millisecond),
		"max_call_memory", formatBytes(callMemory), "max_memory", formatBytes(maxMemory))
	if err := reg.ServeStatus(); err != nil {
		log.Error("cannot serve the status namespace", "err", err)
		return exitError
	}
	watcher, err := reg.Watch(ctx, wcfg)
	if err != nil {
		log.Error("cannot watch the folder; try --watch poll", "dir", dir, "err", err)
		return exitError
	}
	log.Info("watching for changes", "dir", dir, "watch", *watch)

	// With --http, calls are counted and timed, over either protocol.
	var ics []transport.Interceptor
	var mets *metrics.Metrics
	if *httpAddr != "" {
		var stop func()
		mets, stop = newMetrics(reg)
		defer stop()
		ics = append(ics, mets.Interceptor())
	}
	if *slowCall > 0 {
		ics = append(ics, slowCalls(*slowCall, log))
	}
	handler := transport.Intercept(reg, ics...)
	srv, err := transport.NewServer(handler, transport.ServerConfig{
		Limits:           transport.Limits{MaxBodySize: *maxBody},
		MaxInFlight:      *maxInFlight,
		MaxConns:         *maxConns,
		HandshakeTimeout: *handshakeTimeout,
		IdleTimeout:      *idleTimeout,
		FrameTimeout:     *frameTimeout,
		Authenticate:     authenticate,
		Logger:           log,
	})
	if err != nil {
		log.Error("bad server configuration", "err", err)
		return exitUsage
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Error("cannot listen", "err", err)
		return exitError
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	if *pprofAddr != "" {
		prof, err := startPprof(*pprofAddr, log)
		if err != nil {
			ln.Close()
			log.Error("cannot serve profiles", "err", err)
			return exitError
		}
		defer prof.close()
	}
	var web *httpServer
	if *httpAddr != "" {
		mets.Gauge("slacker_connections", "Connections of the binary protocol open now.", func() float64 { return float64(len(srv.Clients())) })
		if web, err = newHTTPServer(*httpAddr, handler, reg, mets, httpLimits{
			maxBody: *maxBody, maxConns: *maxConns, header: *handshakeTimeout, body: *frameTimeout, idle: *idleTimeout,
		}, tlsCfg, authenticate, log); err != nil {
			ln.Close()
			log.Error("cannot serve HTTP", "err", err)
			return exitError
		}
	}
	var member *membership
	if cf.zk != "" {
		if member, err = joinCluster(&cf, ln.Addr(), reg, log); err != nil {
			ln.Close()
			if web != nil {
				web.ln.Close()
			}
			log.Error("cannot join the cluster", "err", err)
			return exitUsage
		}
		defer member.close() // also when serving fails
	}
	var webServed <-chan error // nil without --http: never receives
	if web != nil {
		if member != nil {
			mets.Gauge("slacker_zookeeper_connected", "1 while the server has a ZooKeeper session, else 0.", func() float64 {
				if member.m.Connected() {
					return 1
				}
				return 0
			})
			mets.Counter("slacker_zookeeper_sessions_total", "ZooKeeper sessions the server has registered in; more than one means sessions were lost.", func() float64 {
				return float64(member.m.Sessions())
			})
		}
		web.member = member
		if adminAuth != nil {
			web.mux.Handle("/_admin/", adminHandler(member, adminAuth))
		}
		web.start()
		defer web.srv.Close() // when serving fails; shutdown comes first otherwise
		webServed = web.served
		log.Info("serving HTTP", "http", web.ln.Addr().String())
	}
	log.Info("serving", "addr", ln.Addr().String(), "version", version, "tls", tlsCfg != nil, "tokens", authenticate != nil)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
wait:
	for {
		select {
		case err := <-served:
			log.Error("server stopped", "err", err)
			return exitError
		case err := <-webServed:
			log.Error("HTTP server stopped", "err", err)
			return exitError
		case <-hup:
			rescan(ctx, log, reg, watcher)
		case <-ctx.Done():
			break wait
		}
	}
	log.Info("shutting down", "timeout", *shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), *shutdownTimeout)
	defer cancel()
	if web != nil {
		web.stopping()
	}
	if member != nil {
		member.leave(sctx)
	}
	if web != nil {
		if err := web.shutdown(sctx); err != nil {
			log.Warn("HTTP requests cut off at shutdown", "err", err)
		}
	}
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("calls cancelled at shutdown", "err", err)
	}
	if err := <-served; !errors.Is(err, transport.ErrServerClosed) {
		log.Error("server stopped", "err", err)
	}
	log.Info("stopped")
	return exitOK
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

// rescan looks through the served folder again, on SIGHUP.
func rescan(ctx context.Context, log *slog.Logger, reg *namespaces.Registry, w *namespaces.Watcher) {
	start := time.Now()
	if err := w.Rescan(ctx); err != nil {
		log.Error("SIGHUP: cannot rescan", "err", err)
		return
	}
	log.Info("rescanned", "namespaces", len(reg.Namespaces()), "failed", len(reg.Failures()),
		"took", time.Since(start).Round(time.Microsecond))
}

// isSet reports whether the flag name was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("bad --log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("bad --log-format %q: want text or json", format)
}
