package server

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/slacker-lua/slacker-lua/cluster"
	"github.com/slacker-lua/slacker-lua/engine"
	"github.com/slacker-lua/slacker-lua/gateway"
	"github.com/slacker-lua/slacker-lua/namespaces"
	"github.com/slacker-lua/slacker-lua/transport"
)

// Config configures a [Server]. Its zero value serves the current
// directory on 127.0.0.1:2104, over the binary protocol only, outside any
// cluster; each field says what its zero value means.
type Config struct {
	// Dir is the folder of namespace files. "" means the current
	// directory.
	Dir string
	// Addr is the address the binary protocol listens at, host:port; port
	// 0 picks a free one (see [Server.Addr]). "" means DefaultAddr.
	Addr string
	// HTTP is the address of the HTTP listener: the gateway to the same
	// functions, /metrics, /healthz and /readyz. "" means none.
	HTTP string
	// Metrics is the address of a listener of /metrics, /healthz and
	// /readyz alone, without the gateway, for a scraper and health checks
	// that should not reach the functions. It speaks plain HTTP, without
	// TLS or tokens: bind it to loopback or a private network. "" means
	// none (HTTP serves them too).
	Metrics string
	// TLS, if set, is served on the binary and the HTTP listener (not on
	// the Metrics one). nil means plain TCP.
	TLS *tls.Config
	// Authenticate, if set, checks the token of every caller, on both
	// listeners (see transport.ServerConfig.Authenticate). nil lets every
	// caller in. It overrides Transport.Authenticate.
	Authenticate func(token string) bool
	// AdminAuthenticate, if set, serves the admin endpoints (/_admin/) on
	// the HTTP listener, to callers whose token it accepts. It needs HTTP
	// and Cluster. nil serves none.
	AdminAuthenticate func(token string) bool

	// Engine says how the Lua namespaces run: pool and queue sizes,
	// timeouts, memory budgets. Its zero value works. Engine.Caller is
	// the server's (slacker.call reaches the served namespaces, and the
	// cluster's with Cluster): it must be nil. Engine.Logger nil means
	// Logger.
	Engine engine.Config
	// Watch says how the folder's changes are followed. Its zero value
	// follows file events. In a cluster, Watch.Drain 0 means
	// Cluster.LeaveDelay, so that a namespace is unregistered, then
	// drained, then dropped.
	Watch namespaces.WatchConfig
	// Transport configures the binary protocol's listener: frame limits,
	// timeouts, connection bounds. Its zero value works. Transport.Logger
	// nil means Logger. Its MaxBodySize, MaxConns, HandshakeTimeout (a
	// request's headers), FrameTimeout (its body) and IdleTimeout (between
	// requests) bound the HTTP listener too.
	Transport transport.ServerConfig
	// Cluster, when Cluster.ZooKeeper is set, makes the server a member of
	// a slacker cluster. The zero value serves outside any cluster.
	Cluster ClusterConfig
	// Go are namespaces of Go functions served beside the Lua ones, by
	// namespace name; a Go namespace named as a file is served in its
	// place. nil means none.
	Go map[string][]namespaces.GoFunction
	// Interceptors wrap every call the server serves, over either
	// protocol, the first outermost, inside the server's own metrics.
	// nil means none.
	Interceptors []transport.Interceptor
	// TracerProvider, if not nil, makes an OpenTelemetry span of every
	// call the server serves, and of every call slacker.call makes through
	// the cluster (see package slackerotel). nil makes none; a call's trace
	// context travels all the same.
	TracerProvider trace.TracerProvider
	// SlowCall, if positive, logs every call that takes longer, at warn
	// level. 0 logs none.
	SlowCall time.Duration
	// Logger receives what the server does. nil discards it.
	Logger *slog.Logger
}

// ClusterConfig says how a server joins a cluster.
type ClusterConfig struct {
	// ZooKeeper lists the ensemble's servers, host:port. nil serves
	// outside any cluster; then the other fields must be zero.
	ZooKeeper []string
	// Layout names the cluster, which is required, and its root znode: ""
	// means cluster.DefaultRoot.
	Layout cluster.Layout
	// Advertise is the host:port clients reach the server at. "" means the
	// address the binary protocol listens at, or, when that is a
	// wildcard, an address of one of this host's interfaces.
	Advertise string
	// LeaveDelay is how long the server goes on serving after leaving the
	// cluster in Shutdown, and a namespace after it is unregistered as its
	// file is gone, for clients to see it. 0 means no delay.
	LeaveDelay time.Duration
	// SessionTimeout is the ZooKeeper session's. 0 means
	// cluster.DefaultSessionTimeout.
	SessionTimeout time.Duration
	// RejoinJitter bounds the random wait before the server registers
	// again in a new session (see cluster.MemberConfig.RejoinJitter). 0
	// means cluster.DefaultRejoinJitter; negative, no wait.
	RejoinJitter time.Duration
	// Weight is the server's share of calls for clients that weigh
	// servers. 0 means 1.
	Weight int
	// Data is published with the server in ZooKeeper. nil publishes none.
	Data map[string]any
	// Auth is the identity the server gives ZooKeeper (see cluster.Auth).
	// The zero Auth gives none.
	Auth cluster.Auth
}

// DefaultAddr is the default of Config.Addr.
const DefaultAddr = "127.0.0.1:2104"

// enabled reports whether c joins a cluster.
func (c ClusterConfig) enabled() bool { return len(c.ZooKeeper) > 0 }

// member is the member's configuration, for the server advertised at
// addr.
func (c ClusterConfig) member(addr string, log *slog.Logger) cluster.MemberConfig {
	return cluster.MemberConfig{
		ZooKeeper:      c.ZooKeeper,
		Layout:         c.Layout,
		Addr:           addr,
		Version:        transport.ServerVersion,
		Weight:         c.Weight,
		Data:           c.Data,
		SessionTimeout: c.SessionTimeout,
		RejoinJitter:   c.RejoinJitter,
		Auth:           c.Auth,
		Logger:         log,
	}
}

// Validate reports every invalid field of c, as [New] does.
func (c Config) Validate() error {
	var errs []error
	add := func(field string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("server: Config.%s: %w", field, err))
		}
	}
	add("Addr", checkListen(c.Addr))
	if c.HTTP != "" {
		add("HTTP", checkListen(c.HTTP))
		if _, port, _ := net.SplitHostPort(c.HTTP); c.HTTP == c.Addr && port != "0" {
			add("HTTP", errors.New("the same address as Addr"))
		}
	}
	if c.Metrics != "" {
		add("Metrics", checkListen(c.Metrics))
		if _, port, _ := net.SplitHostPort(c.Metrics); port != "0" && (c.Metrics == c.Addr || c.Metrics == c.HTTP) {
			add("Metrics", errors.New("the same address as Addr or HTTP"))
		}
	}
	for _, ic := range c.Interceptors {
		if ic == nil {
			add("Interceptors", errors.New("a nil interceptor"))
			break
		}
	}
	if c.Engine.Caller != nil {
		add("Engine", errors.New("Caller must be nil: slacker.call is the server's"))
	}
	add("Engine", c.Engine.Validate())
	add("Transport", c.Transport.Validate())
	add("Watch", c.Watch.Validate())
	if c.HTTP != "" {
		add("HTTP", gateway.Config{MaxBodySize: c.Transport.Limits.MaxBodySize}.Validate())
	}
	if c.SlowCall < 0 {
		add("SlowCall", fmt.Errorf("%v is negative", c.SlowCall))
	}
	if c.AdminAuthenticate != nil && (c.HTTP == "" || !c.Cluster.enabled()) {
		add("AdminAuthenticate", errors.New("the admin endpoints need HTTP and Cluster"))
	}
	for ns, fns := range c.Go {
		if ns == namespaces.StatusNamespace {
			add("Go", fmt.Errorf("%s is the server's own namespace", ns))
			continue
		}
		add("Go", namespaces.CheckGo(ns, fns))
	}
	add("Cluster", c.Cluster.validate())
	return errors.Join(errs...)
}

// validate reports every invalid field of c.
func (c ClusterConfig) validate() error {
	if !c.enabled() {
		if c.Layout != (cluster.Layout{}) || c.Advertise != "" || c.LeaveDelay != 0 || c.SessionTimeout != 0 || c.RejoinJitter != 0 ||
			c.Weight != 0 || c.Data != nil || !c.Auth.IsZero() {
			return errors.New("set without ZooKeeper")
		}
		return nil
	}
	var errs []error
	for _, zk := range c.ZooKeeper {
		if _, _, err := net.SplitHostPort(zk); err != nil {
			errs = append(errs, fmt.Errorf("ZooKeeper %q: want host:port", zk))
		}
	}
	if c.LeaveDelay < 0 {
		errs = append(errs, fmt.Errorf("LeaveDelay %v is negative", c.LeaveDelay))
	}
	if c.Data != nil {
		if _, err := json.Marshal(c.Data); err != nil {
			errs = append(errs, fmt.Errorf("Data: %w", err))
		}
	}
	// The address to advertise is known once the server listens, unless
	// it is given: a stand-in is checked meanwhile.
	addr := c.Advertise
	if addr == "" {
		addr = "localhost:1"
	}
	errs = append(errs, c.member(addr, nil).Validate())
	return errors.Join(errs...)
}

// checkListen checks an address to listen at: host:port, where "" is
// DefaultAddr.
func checkListen(addr string) error {
	if addr == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("%q: want host:port: %w", addr, err)
	}
	return nil
}

// withDefaults returns c with its zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Dir == "" {
		c.Dir = "."
	}
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Engine.Logger == nil {
		c.Engine.Logger = c.Logger
	}
	if c.Transport.Logger == nil {
		c.Transport.Logger = c.Logger
	}
	if c.Authenticate != nil {
		c.Transport.Authenticate = c.Authenticate
	}
	if c.Cluster.enabled() && c.Watch.Drain == 0 {
		c.Watch.Drain = c.Cluster.LeaveDelay // unregistered, then drained, then dropped
	}
	return c
}
