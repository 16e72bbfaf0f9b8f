package main

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/slacker-lua/slacker-lua/engine"
	"github.com/slacker-lua/slacker-lua/namespaces"
	"github.com/slacker-lua/slacker-lua/server"
	"github.com/slacker-lua/slacker-lua/transport"
)

const serveHelp = "Serves every .lua file under DIR as a namespace: DIR/a/b/c.lua (or DIR/a.b.c.lua)\n" +
	"serves namespace a.b.c. Modules for require live in DIR/" + namespaces.LibDir + ".\n\n" +
	"Files added, changed, renamed or removed while serving are followed at once: a\n" +
	"changed file is loaded in full, then swapped in; calls running finish on the old\n" +
	"version. A file that fails to load is logged and leaves its old version serving;\n" +
	"`slacker-lua status ADDR` lists such files. SIGHUP looks through DIR again and\n" +
	"retries failed files. SIGINT and SIGTERM stop the server gracefully.\n\n" +
	"With --zk and --cluster, the server registers in ZooKeeper each namespace it\n" +
	"serves, as it serves it, under ZK-ROOT/CLUSTER/namespaces/NS/HOST:PORT. Under\n" +
	"--zk-root /slacker/cluster, or with --zk-layout slacker, it writes slacker\n" +
	"cluster's layout too, which the Clojure cluster client reads (see CLUSTER.md).\n\n" +
	"With --http, the functions are served over HTTP too: POST /NS/FN.json (or\n" +
	".msgpack) with the arguments as an array in the body answers the result;\n" +
	"GET / lists the functions; GET /metrics has the server's figures for\n" +
	"Prometheus, GET /healthz and /readyz are for health checks."

// serveFlags are serve's flags, which make a server.Config.
type serveFlags struct {
	fs                                       *flag.FlagSet
	listen, watch, httpAddr, pprof           string
	metricsAddr                              string
	logFormat, logLevel                      string
	poolSize, queueSize, maxBody, maxString  int
	maxInFlight, maxConns                    int
	timeout, shutdownTimeout, pollInterval   time.Duration
	handshakeTimeout, idleTimeout, frameTime time.Duration
	slowCall                                 time.Duration
	unsafeLibs                               bool
	mem                                      memoryFlags
	cluster                                  clusterFlags
	sec                                      serverSecurity
	trace                                    tracingFlags
}

func (f *serveFlags) register(fs *flag.FlagSet) {
	f.fs = fs
	fs.StringVar(&f.listen, "listen", server.DefaultAddr, "`address` to listen on; \":2104\" listens on every interface")
	fs.IntVar(&f.poolSize, "pool-size", 0, "Lua VMs per namespace (0: one per CPU); a file's _options.pool_size wins")
	fs.IntVar(&f.queueSize, "queue-size", 0, "calls that may wait for a busy namespace before thread-pool-full (0: 256)")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "longest a call may run unless its namespace says otherwise")
	fs.IntVar(&f.maxBody, "max-body", transport.DefaultMaxBodySize, "largest request or response body, in `bytes`")
	fs.IntVar(&f.maxString, "max-string", 16<<20, "longest string Lua's string functions may build, in `bytes`")
	f.mem.register(fs)
	fs.IntVar(&f.maxInFlight, "max-in-flight", transport.DefaultMaxInFlight, "calls running at once per connection before the server stops reading it")
	fs.BoolVar(&f.unsafeLibs, "unsafe-libs", false, "open Lua's io, os, debug and package libraries (trusted code only)")
	fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long calls in flight may take to finish on SIGINT or SIGTERM")
	fs.StringVar(&f.watch, "watch", "events", "how to follow changes to DIR: events (inotify), poll (for network mounts), or off (only on SIGHUP)")
	fs.DurationVar(&f.pollInterval, "poll-interval", namespaces.DefaultPoll, "how often --watch poll looks through DIR")
	f.cluster.register(fs)
	fs.IntVar(&f.maxConns, "max-conns", 0, "connections served at once on each listener, --listen's and --http's; past it new ones are closed at once (0: no bound)")
	fs.DurationVar(&f.handshakeTimeout, "handshake-timeout", transport.DefaultHandshakeTimeout, "how long a new connection has to send a first frame and, with --token-file, an accepted token; over HTTP, a request's headers")
	fs.DurationVar(&f.idleTimeout, "idle-timeout", transport.DefaultIdleTimeout, "how long a connection may stay open with no call in flight and nothing sent (pings count); over HTTP, between requests")
	fs.DurationVar(&f.frameTime, "frame-timeout", transport.DefaultFrameTimeout, "how long a frame may take to arrive once begun; over HTTP, a request's body")
	fs.DurationVar(&f.slowCall, "slow-call", 0, "log every call that takes longer than this, with its time (0: none)")
	f.sec.register(fs)
	f.trace.register(fs)
	fs.StringVar(&f.httpAddr, "http", "", "`address` of the HTTP gateway and health endpoints, such as 127.0.0.1:2105; none if empty")
	fs.StringVar(&f.metricsAddr, "metrics", "", "`address` of a plain HTTP listener of /metrics, /healthz and /readyz alone, without the gateway, such as 127.0.0.1:9104; none if empty")
	fs.StringVar(&f.pprof, "pprof", "", "`address` to serve Go's profiles at, under /debug/pprof/, such as 127.0.0.1:6060; none if empty")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
}

// config checks the flags that go together and returns the server's
// configuration; server.New checks the rest.
func (f *serveFlags) config(dir string) (server.Config, error) {
	if err := f.cluster.check(); err != nil {
		return server.Config{}, err
	}
	callMemory, maxMemory, err := f.mem.apply()
	if err != nil {
		return server.Config{}, err
	}
	tlsCfg, errTLS := f.sec.tlsConfig()
	authenticate, errTokens := f.sec.authenticator()
	adminAuth, errAdmin := f.sec.adminAuthenticator()
	if err := errors.Join(errTLS, errTokens, errAdmin); err != nil {
		return server.Config{}, err
	}
	watch, err := f.watchConfig()
	switch {
	case err != nil:
		return server.Config{}, err
	case adminAuth != nil && (f.httpAddr == "" || f.cluster.zk == ""):
		return server.Config{}, errors.New("--admin-token-file goes with --http and --zk")
	case f.maxConns < 0 || f.slowCall < 0:
		return server.Config{}, errors.New("--max-conns and --slow-call can't be negative")
	case f.handshakeTimeout <= 0 || f.idleTimeout <= 0 || f.frameTime <= 0:
		return server.Config{}, errors.New("--handshake-timeout, --idle-timeout and --frame-timeout must be positive")
	}
	return server.Config{
		Dir: dir, Addr: f.listen, HTTP: f.httpAddr, Metrics: f.metricsAddr, TLS: tlsCfg,
		Authenticate: authenticate, AdminAuthenticate: adminAuth,
		Engine: engine.Config{
			PoolSize: f.poolSize, QueueSize: f.queueSize, Timeout: f.timeout, MaxStringSize: f.maxString,
			MaxCallMemory: callMemory, MaxMemory: maxMemory, UnsafeLibs: f.unsafeLibs,
		},
		Watch: watch,
		Transport: transport.ServerConfig{
			Limits:      transport.Limits{MaxBodySize: f.maxBody},
			MaxInFlight: f.maxInFlight, MaxConns: f.maxConns,
			HandshakeTimeout: f.handshakeTimeout, IdleTimeout: f.idleTimeout, FrameTimeout: f.frameTime,
		},
		Cluster:  f.cluster.config(),
		SlowCall: f.slowCall,
	}, nil
}

// watchConfig is --watch and --poll-interval's.
func (f *serveFlags) watchConfig() (namespaces.WatchConfig, error) {
	var wcfg namespaces.WatchConfig
	switch f.watch {
	case "events":
		wcfg.Mode = namespaces.WatchEvents
	case "poll":
		wcfg.Mode = namespaces.WatchPoll
	case "off":
		wcfg.Mode = namespaces.WatchManual
	default:
		return wcfg, fmt.Errorf("bad --watch %q: want events, poll or off", f.watch)
	}
	switch {
	case f.pollInterval <= 0:
		return wcfg, fmt.Errorf("bad --poll-interval %v: want a positive duration", f.pollInterval)
	case isSet(f.fs, "poll-interval") && wcfg.Mode != namespaces.WatchPoll:
		return wcfg, errors.New("--poll-interval goes with --watch poll")
	}
	wcfg.Poll = f.pollInterval
	return wcfg, nil
}
