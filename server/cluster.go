package server

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/cluster"
	"github.com/slacker-lua/slacker-lua/namespaces"
	"github.com/slacker-lua/slacker-lua/slackerotel"
	"github.com/slacker-lua/slacker-lua/transport"
)

// membership is a serving registry's place in a cluster: a member, told
// of the namespaces as they come and go.
type membership struct {
	m     *cluster.Member
	reg   *namespaces.Registry
	sub   *namespaces.Subscription
	done  chan struct{} // closed when follow returns
	delay time.Duration
	log   *slog.Logger
	zk    *zkWatch

	// What an operator took offline: the whole server, or namespaces.
	// Held while registering, so that follow and setOffline agree.
	mu        sync.Mutex
	offline   bool
	offlineNS map[string]bool
}

// joinCluster joins the cluster cfg names, as the server listening
// at ln (and for HTTP at web, if not nil, with TLS if tls), and registers reg's namespaces
// as they are served.
func joinCluster(cfg ClusterConfig, ln, web net.Addr, tls bool, reg *namespaces.Registry, log *slog.Logger) (*membership, error) {
	addr, derived, err := advertised(cfg.Advertise, ln)
	if err != nil {
		return nil, err
	}
	mc := cfg.member(addr, log)
	if web != nil {
		mc.HTTP = advertisedHTTP(addr, web, tls)
	}
	m, err := cluster.Join(mc)
	if err != nil {
		return nil, err
	}
	attrs := []any{"zk", strings.Join(cfg.ZooKeeper, ","), "cluster", cfg.Layout.Cluster, "root", cfg.Layout.Root, "addr", addr, "identity", cfg.Auth.String()}
	if derived {
		attrs = append(attrs, "advertise", "derived from the listen address "+ln.String()+"; set the address to advertise to choose")
	}
	log.Info("joining the cluster", attrs...)
	ms := &membership{m: m, reg: reg, sub: reg.Subscribe(), done: make(chan struct{}), delay: cfg.LeaveDelay, log: log,
		zk: watchZooKeeper(m), offlineNS: make(map[string]bool)}
	go ms.follow()
	return ms, nil
}

// follow registers the namespaces the registry serves, as it serves them,
// and unregisters them as they leave (then they are drained) or are
// removed, until the subscription is closed. Registering again a
// namespace registered is nothing. The status namespace is each server's
// own.
func (ms *membership) follow() {
	defer close(ms.done)
	for {
		ev, err := ms.sub.Next(context.Background())
		if err != nil {
			return
		}
		if ev.Namespace == namespaces.StatusNamespace {
			continue
		}
		ms.mu.Lock()
		switch ev.Kind {
		case namespaces.Added, namespaces.Updated, namespaces.Kept:
			if !ms.offline && !ms.offlineNS[ev.Namespace] {
				ms.register(ev.Namespace)
			}
		case namespaces.Leaving, namespaces.Removed:
			ms.m.Unregister(ev.Namespace)
		}
		ms.mu.Unlock()
	}
}

// register registers ns as the registry describes it; ms.mu is held.
func (ms *membership) register(ns string) {
	d, ok := ms.reg.Describe(ns)
	if !ok {
		return // gone since: its event follows
	}
	if err := ms.m.Register(ns, namespaceData(d)); err != nil {
		ms.log.Error("cannot register namespace", "namespace", ns, "err", err)
	}
}

// setOffline takes the namespace ns, or with ns "" the whole server, out
// of the cluster (off) or back in: its nodes are removed, or made again,
// while it goes on serving. Putting the whole server back (ns "", not off)
// puts back every namespace, those taken offline one by one included:
// after it, nothing is offline. It returns an error for a namespace not
// served.
func (ms *membership) setOffline(ns string, off bool) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	served := slices.DeleteFunc(ms.reg.Namespaces(), func(n string) bool { return n == namespaces.StatusNamespace })
	if ns != "" && !slices.Contains(served, ns) && !ms.offlineNS[ns] {
		return fmt.Errorf("namespace %s is not served", ns)
	}
	switch {
	case ns == "" && !off:
		ms.offline = false
		clear(ms.offlineNS)
	case ns == "":
		ms.offline = true
	case off:
		ms.offlineNS[ns] = true
	default:
		delete(ms.offlineNS, ns)
	}
	for _, n := range served {
		if ns != "" && n != ns {
			continue
		}
		if ms.offline || ms.offlineNS[n] {
			ms.m.Unregister(n)
		} else {
			ms.register(n)
		}
	}
	if err := ms.m.SetOffline(ms.offline, slices.Collect(maps.Keys(ms.offlineNS))); err != nil {
		ms.log.Error("cannot announce what is offline", "err", err)
	}
	ms.log.Info("operator: cluster membership changed", "namespace", ns, "offline", off)
	return nil
}

// state is what an operator took offline, and the server's weight.
func (ms *membership) state() adminState {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	st := adminState{Offline: ms.offline, OfflineNamespaces: slices.Sorted(maps.Keys(ms.offlineNS)), Weight: ms.m.Weight()}
	if st.OfflineNamespaces == nil {
		st.OfflineNamespaces = []string{}
	}
	return st
}

// namespaceData is what the cluster is told of a namespace.
func namespaceData(d namespaces.Description) cluster.NamespaceData {
	nd := cluster.NamespaceData{Version: d.Hash, Stateful: d.Options.Stateful, Idempotent: d.Options.Idempotent}
	for _, f := range d.Functions {
		_, fn, _ := strings.Cut(f.Name, "/")
		nd.Functions = append(nd.Functions, cluster.Function{Name: fn, Doc: f.Doc, Params: f.Params})
	}
	return nd
}

// leave takes the server out of the cluster, then goes on serving for the
// leave delay, so that clients stop sending calls before the server stops
// taking them.
func (ms *membership) leave(ctx context.Context) {
	ms.close()
	ms.log.Info("left the cluster", "serving_for", ms.delay.String())
	select {
	case <-time.After(ms.delay):
	case <-ctx.Done():
	}
}

// close takes the server out of the cluster at once. It may be called
// more than once.
func (ms *membership) close() {
	ms.sub.Close()
	<-ms.done
	ms.zk.stop()
	ms.m.Close()
}

// advertised returns the address clients reach the server at: given if
// set, else the listener's address, or, when that is a wildcard, an
// address of one of this host's interfaces (derived).
func advertised(given string, ln net.Addr) (addr string, derived bool, err error) {
	if given != "" {
		return given, false, nil
	}
	host, port, err := net.SplitHostPort(ln.String())
	if err != nil {
		return "", false, err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsUnspecified() {
		return ln.String(), false, nil
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", false, fmt.Errorf("listening on every interface, and cannot list them to choose an address to advertise (set the address to advertise): %w", err)
	}
	var v6 string
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || !ipn.IP.IsGlobalUnicast() {
			continue
		}
		if ipn.IP.To4() != nil {
			return net.JoinHostPort(ipn.IP.String(), port), true, nil
		}
		if v6 == "" {
			v6 = net.JoinHostPort(ipn.IP.String(), port)
		}
	}
	if v6 != "" {
		return v6, true, nil
	}
	return net.JoinHostPort("127.0.0.1", port), true, nil
}

// advertisedHTTP returns the URL of the HTTP listener web, with TLS if
// tls, for a server advertised at addr: web's address, or, when that is a
// wildcard, addr's host with web's port.
func advertisedHTTP(addr string, web net.Addr, tls bool) string {
	scheme := "http://"
	if tls {
		scheme = "https://"
	}
	host, port, err := net.SplitHostPort(web.String())
	if err != nil {
		return scheme + web.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if ahost, _, err := net.SplitHostPort(addr); err == nil {
			host = ahost
		}
	}
	return scheme + net.JoinHostPort(host, port)
}

// clusterCaller is what slacker.call reaches in a server of a cluster:
// the namespaces served here, and the others through a cluster client.
// The calls of a stateful namespace go through the cluster client even
// when it is served here, as they must reach its leader.
type clusterCaller struct {
	local   atomic.Pointer[namespaces.Registry] // set once the folder is loaded
	remote  atomic.Pointer[cluster.Client]      // set once ZooKeeper is reached
	cancel  context.CancelFunc
	stopped chan struct{}
}

// newClusterCaller makes the caller and connects its cluster client in
// the background, as ZooKeeper may not be up yet.
// With tp, its calls through the cluster client make client spans.
func newClusterCaller(cfg ClusterConfig, tp trace.TracerProvider, log *slog.Logger) *clusterCaller {
	ctx, cancel := context.WithCancel(context.Background())
	cc := &clusterCaller{cancel: cancel, stopped: make(chan struct{})}
	ccfg := cluster.ClientConfig{
		ZooKeeper:      cfg.ZooKeeper,
		Layout:         cfg.Layout,
		SessionTimeout: cfg.SessionTimeout,
		Logger:         log,
	}
	if tp != nil {
		ccfg.Interceptors = []client.Interceptor{slackerotel.Client(tp, slackerotel.ClientConfig{})}
	}
	go func() {
		defer close(cc.stopped)
		c, err := cluster.NewClient(ctx, ccfg)
		if err != nil {
			if ctx.Err() == nil {
				log.Error("slacker.call cannot reach the cluster", "err", err)
			}
			return
		}
		cc.remote.Store(c)
	}()
	return cc
}

func (cc *clusterCaller) Call(ctx context.Context, name string, args []any) (any, error) {
	reg := cc.local.Load()
	ns, _, _ := strings.Cut(name, "/")
	if reg != nil {
		if d, ok := reg.Describe(ns); ok && !d.Options.Stateful {
			return reg.Call(ctx, name, args)
		}
	}
	c := cc.remote.Load()
	if c == nil {
		return nil, fmt.Errorf("%s: ZooKeeper not reached yet, to find the servers of %s: %w", name, ns, transport.ErrNotFound)
	}
	return client.Decoding{Caller: c}.Call(ctx, name, args)
}

// close stops the cluster client.
func (cc *clusterCaller) close() {
	cc.cancel()
	<-cc.stopped
	if c := cc.remote.Load(); c != nil {
		c.Close()
	}
}
