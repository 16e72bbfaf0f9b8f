package cluster

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/transport"
)

// Both clients are Callers, so code calls one server or a cluster the
// same way.
var (
	_ client.Caller = (*Client)(nil)
	_ client.Caller = (*client.Client)(nil)
)

func TestClientConfig(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		cfg ClientConfig
		msg string
	}{
		{ClientConfig{Layout: Layout{Cluster: "c"}}, "names no server"},
		{ClientConfig{ZooKeeper: []string{"127.0.0.1:1"}}, "can't name a znode"},
		{ClientConfig{ZooKeeper: []string{"127.0.0.1:1"}, Layout: Layout{Root: "slacker", Cluster: "c"}}, "want an absolute znode path"},
		{ClientConfig{ZooKeeper: []string{"127.0.0.1:1"}, Layout: Layout{Cluster: "c"}, SessionTimeout: -1}, "is negative"},
		{ClientConfig{ZooKeeper: []string{"127.0.0.1:1"}, Layout: Layout{Cluster: "c"}, Client: client.Config{Timeout: -1}}, "negative Timeout"},
		{ClientConfig{ZooKeeper: []string{"127.0.0.1:1"}, Layout: Layout{Cluster: "c"}, Interceptors: []client.Interceptor{nil}}, "nil interceptor"},
	} {
		if _, err := NewClient(ctx, tt.cfg); err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%+v: %v, want %q", tt.cfg, err, tt.msg)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := NewClient(cctx, ClientConfig{ZooKeeper: []string{"127.0.0.1:1"}, Layout: Layout{Cluster: "c"}}); !errors.Is(err, context.Canceled) {
		t.Errorf("no ZooKeeper, ctx done: %v", err)
	}
}

// fakeDiscovery is a discovery the test tells the states of the
// namespaces: what the client does with them, without ZooKeeper.
type fakeDiscovery struct {
	wg sync.WaitGroup // the first publishes

	mu      sync.Mutex
	states  map[string]*nsState
	watches map[string]func(*nsState)
}

func newFakeDiscovery() *fakeDiscovery {
	return &fakeDiscovery{states: make(map[string]*nsState), watches: make(map[string]func(*nsState))}
}

// set makes st the state of ns, published at once if ns is watched.
func (f *fakeDiscovery) set(ns string, st nsState) {
	f.mu.Lock()
	f.states[ns] = &st
	publish := f.watches[ns]
	f.mu.Unlock()
	if publish != nil {
		f.publish(ns, publish)
	}
}

// publish publishes a copy of the state of ns, as a new state.
func (f *fakeDiscovery) publish(ns string, publish func(*nsState)) {
	f.mu.Lock()
	st := *f.states[ns]
	f.mu.Unlock()
	st.servers = slices.Clone(st.servers)
	st.leader = nil
	for i, s := range st.servers {
		if s.Leader {
			st.leader = &st.servers[i]
		}
	}
	publish(&st)
}

func (f *fakeDiscovery) watchNamespace(ns string, stop <-chan struct{}, publish func(*nsState)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.watches[ns] = publish
	if _, ok := f.states[ns]; !ok {
		f.states[ns] = &nsState{}
	}
	f.wg.Add(1)
	go func() { // never from within watchNamespace
		defer f.wg.Done()
		f.publish(ns, publish)
	}()
}

func (f *fakeDiscovery) watchServer(string, <-chan struct{}, func(*ServerData)) {}

func (f *fakeDiscovery) list(_ context.Context, what nodes) ([]string, error) {
	if what == clustersNode {
		return []string{"test"}, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if what == serversNode {
		return []string{}, nil
	}
	return slices.Sorted(maps.Keys(f.states)), nil
}

func (f *fakeDiscovery) serverData(context.Context, string) (*ServerData, error) { return nil, nil }

func (f *fakeDiscovery) close() { f.wg.Wait() }

// fakeClient returns a client of the servers f tells of, closed when the
// test ends.
func fakeClient(t *testing.T, f *fakeDiscovery, cfg ClientConfig) *Client {
	t.Helper()
	c := newClient(cfg.withDefaults(), f)
	t.Cleanup(func() { c.Close() })
	return c
}

// whoServer answers every call with its address.
type whoServer struct{ addr string }

func (w *whoServer) Call(_ context.Context, name string, _ []any) (any, error) {
	return w.addr, nil
}

func (w *whoServer) Functions(string) []string              { return nil }
func (w *whoServer) Meta(string) (transport.FuncMeta, bool) { return transport.FuncMeta{}, false }

// serveWho serves a whoServer on a new port until the test ends, and
// returns its address.
func serveWho(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &whoServer{addr: ln.Addr().String()}
	srv, err := transport.NewServer(h, transport.ServerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return h.addr
}

// deadAddr returns an address no server listens at.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// first picks the server at its address when there is one, else the
// first.
type first string

func (a first) Pick(servers []Server) (Server, error) {
	for _, s := range servers {
		if s.Addr == string(a) {
			return s, nil
		}
	}
	return servers[0], nil
}

func who(t *testing.T, c client.Caller, name string) string {
	t.Helper()
	got, err := client.CallAs[string](context.Background(), c, name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return got
}

func sorted(addrs ...string) []Server {
	slices.Sort(addrs)
	out := make([]Server, len(addrs))
	for i, a := range addrs {
		out[i] = Server{Addr: a}
	}
	return out
}

func TestClientSpreadsCalls(t *testing.T) {
	testutil.CheckGoroutines(t)
	a, b := serveWho(t), serveWho(t)
	f := newFakeDiscovery()
	f.set("who", nsState{servers: sorted(a, b)})
	c := fakeClient(t, f, ClientConfig{Picker: &RoundRobin{}})
	got := make(map[string]int)
	for range 6 {
		got[who(t, c, "who/am_i")]++
	}
	if got[a] != 3 || got[b] != 3 {
		t.Fatalf("6 calls round robin over %s and %s: %v", a, b, got)
	}
	if got := who(t, c.With(Address(b)), "who/am_i"); got != b {
		t.Fatalf("with Address(%s): answered by %s", b, got)
	}
}

func TestClientNotSentGoesToAnother(t *testing.T) {
	testutil.CheckGoroutines(t)
	live, dead := serveWho(t), deadAddr(t)
	f := newFakeDiscovery()
	f.set("who", nsState{servers: sorted(live, dead)})
	c := fakeClient(t, f, ClientConfig{Picker: first(dead)})
	if got := who(t, c, "who/am_i"); got != live {
		t.Fatalf("answered by %s, want %s", got, live)
	}
	// Alone, the server that can't be reached fails the call, naming it.
	_, err := c.With(Address(dead)).Call(context.Background(), "who/am_i")
	var se *client.ServerError
	if !errors.Is(err, client.ErrNotSent) || !errors.As(err, &se) || se.Addr != dead {
		t.Fatalf("only %s: %v", dead, err)
	}
}

func TestClientNotFound(t *testing.T) {
	testutil.CheckGoroutines(t)
	a := serveWho(t)
	f := newFakeDiscovery()
	f.set("who", nsState{servers: []Server{{Addr: a, Namespace: NamespaceData{Functions: []Function{{Name: "am_i"}}}}}})
	c := fakeClient(t, f, ClientConfig{})
	for _, name := range []string{"nobody/f", "who/else", "no-namespace", "_leader/f"} {
		_, err := c.Call(context.Background(), name)
		if !errors.Is(err, client.ErrNotFound) || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: %v, want not-found at once", name, err)
		}
	}
	if _, err := c.CallAll(context.Background(), FailIfAll, "nobody/f"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("CallAll of nobody/f: %v", err)
	}
	if got := who(t, c, "who/am_i"); got != a {
		t.Fatalf("who/am_i answered by %s", got)
	}
}

func TestClientStatefulWaitsForLeader(t *testing.T) {
	testutil.CheckGoroutines(t)
	a, b := serveWho(t), serveWho(t)
	stateful := NamespaceData{Stateful: true}
	f := newFakeDiscovery()
	f.set("st", nsState{stateful: true, servers: []Server{{Addr: a, Namespace: stateful}, {Addr: b, Namespace: stateful}}})
	started := make(chan string, 2) // the name of each call, as it starts
	log := func(next client.CallFunc) client.CallFunc {
		return func(ctx context.Context, name string, args []any) (client.Result, error) {
			started <- name
			return next(ctx, name, args)
		}
	}
	c := fakeClient(t, f, ClientConfig{Interceptors: []client.Interceptor{log}})

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Call(ctx, "st/f"); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no server leads st") {
		t.Fatalf("no leader, ever: %v", err)
	}

	type answer struct {
		who string
		err error
	}
	done := make(chan answer, 1)
	go func() {
		got, err := client.CallAs[string](context.Background(), c, "st/f")
		done <- answer{got, err}
	}()
	<-started // the call above
	<-started // this one
	select {
	case x := <-done:
		t.Fatalf("a call without a leader returned %+v", x)
	default:
	}
	f.set("st", nsState{stateful: true, servers: []Server{{Addr: a, Namespace: stateful}, {Addr: b, Namespace: stateful, Leader: true}}})
	if x := <-done; x.err != nil || x.who != b {
		t.Fatalf("once %s leads: %+v", b, x)
	}
}

func TestClientNamespacesAndClose(t *testing.T) {
	testutil.CheckGoroutines(t)
	f := newFakeDiscovery()
	f.set("b", nsState{})
	f.set("a", nsState{})
	c := fakeClient(t, f, ClientConfig{})
	if got, err := c.Namespaces(context.Background()); err != nil || fmt.Sprint(got) != "[a b]" {
		t.Fatalf("namespaces: %v, %v", got, err)
	}
	c.Close()
	if _, err := c.Call(context.Background(), "a/f"); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("call after Close: %v", err)
	}
	if _, err := c.Namespaces(context.Background()); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("namespaces after Close: %v", err)
	}
}
