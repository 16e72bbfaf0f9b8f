package server_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/cluster"
	"github.com/slacker-lua/slacker-lua/engine"
	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/internal/zktest"
	"github.com/slacker-lua/slacker-lua/namespaces"
	"github.com/slacker-lua/slacker-lua/server"
	"github.com/slacker-lua/slacker-lua/transport"
)

const wait = 10 * time.Second

// start runs a server of cfg until the test ends, and waits until it
// serves.
func start(t *testing.T, cfg server.Config) *server.Server {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- srv.Run(context.Background()) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-ran; !errors.Is(err, server.ErrServerClosed) {
			t.Errorf("Run: %v, want ErrServerClosed", err)
		}
	})
	select {
	case <-srv.Ready():
	case err := <-ran:
		ran <- err
		t.Fatalf("Run: %v", err)
	case <-time.After(wait):
		t.Fatal("the server is not serving")
	}
	return srv
}

// dial returns a client of srv, closed when the test ends.
func dial(t *testing.T, srv *server.Server) *client.Client {
	t.Helper()
	c, err := client.Dial(context.Background(), srv.Addr().String(), client.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// call calls name on c and returns its result decoded, or its error.
func call(c client.Caller, name string, args ...any) (any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	res, err := c.Call(ctx, name, args...)
	if err != nil {
		return nil, err
	}
	var v any
	err = res.Decode(&v)
	return v, err
}

// TestServeAndReload serves a folder, calls a function, and follows a
// change of its file and a new file.
func TestServeAndReload(t *testing.T) {
	testutil.CheckGoroutines(t)
	dir := testutil.WriteFiles(t, map[string]string{"v.lua": "function v() return 1 end"})
	srv := start(t, server.Config{Dir: dir})
	c := dial(t, srv)
	if v, err := call(c, "v/v"); err != nil || v != int64(1) {
		t.Fatalf("v/v: %v %v, want 1", v, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "v.lua"), []byte("function v() return 2 end"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "w.lua"), []byte("function w() return slacker.call('v/v') end"), 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, wait, func() bool {
		v, err := call(c, "w/w")
		return err == nil && v == int64(2)
	}, "w/w to call the new v/v")
	if err := srv.Rescan(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestHTTP serves the gateway, the health endpoints and the metrics.
func TestHTTP(t *testing.T) {
	dir := testutil.WriteFiles(t, map[string]string{"m.lua": "function add(a, b) return a + b end"})
	srv := start(t, server.Config{Dir: dir, HTTP: "127.0.0.1:0"})
	base := "http://" + srv.HTTPAddr().String()
	if code, body := get(t, "POST", base+"/m/add.json", "[1, 2]"); code != 200 || body != "3" {
		t.Errorf("POST /m/add.json: %d %q", code, body)
	}
	if code, body := get(t, "GET", base+"/readyz", ""); code != 200 || !strings.HasPrefix(body, "ready: 2 namespaces") {
		t.Errorf("/readyz: %d %q", code, body)
	}
	if code, body := get(t, "GET", base+"/metrics", ""); code != 200 || !strings.Contains(body, `slacker_calls_total{code="success",function="add",namespace="m"} 1`) {
		t.Errorf("/metrics: %d\n%s", code, body)
	}
}

// TestBadConfig checks that New refuses a bad configuration before
// anything is bound: the port it names stays free.
func TestBadConfig(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	zk := []string{"127.0.0.1:1"}
	for _, tt := range []struct {
		cfg  server.Config
		want string
	}{
		{server.Config{Cluster: server.ClusterConfig{ZooKeeper: zk, Layout: cluster.Layout{Cluster: "c"}, Advertise: "0.0.0.0:7"}}, "not a wildcard"},
		{server.Config{Cluster: server.ClusterConfig{ZooKeeper: zk}}, "Cluster"},
		{server.Config{Cluster: server.ClusterConfig{Advertise: "10.0.0.1:1"}}, "set without ZooKeeper"},
		{server.Config{AdminAuthenticate: func(string) bool { return true }}, "need HTTP and Cluster"},
		{server.Config{SlowCall: -time.Second}, "SlowCall"},
		{server.Config{Interceptors: []transport.Interceptor{nil}}, "nil interceptor"},
		{server.Config{HTTP: "localhost"}, "want host:port"},
		{server.Config{HTTP: addr}, "the same address as Addr"},
		{server.Config{Cluster: server.ClusterConfig{ZooKeeper: []string{"127.0.0.1:9", ""}, Layout: cluster.Layout{Cluster: "c"}}}, `ZooKeeper ""`},
		{server.Config{Go: map[string][]namespaces.GoFunction{namespaces.StatusNamespace: nil}}, "the server's own namespace"},
		{server.Config{Transport: server.Config{}.Transport}, ""},
	} {
		tt.cfg.Addr = addr
		_, err := server.New(tt.cfg)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("New: %v", err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("New: %v, want an error with %q", err, tt.want)
		}
	}
	// Nothing was bound.
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("New bound %s: %v", addr, err)
	}
	ln.Close()
}

// TestShutdownDrains checks that Shutdown lets a call running finish,
// while new connections are refused, and that Run then returns
// ErrServerClosed.
func TestShutdownDrains(t *testing.T) {
	testutil.CheckGoroutines(t)
	entered, release := make(chan struct{}, 1), make(chan struct{})
	gate := map[string][]namespaces.GoFunction{"gate": {{Name: "wait", Fn: func(ctx context.Context, _ []any) (any, error) {
		entered <- struct{}{}
		select {
		case <-release:
			return "done", nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}}}}
	srv, err := server.New(server.Config{Dir: t.TempDir(), Addr: "127.0.0.1:0", Go: gate})
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- srv.Run(context.Background()) }()
	<-srv.Ready()
	addr := srv.Addr().String()
	c := dial(t, srv)
	answer := make(chan error, 1)
	go func() {
		v, err := call(c, "gate/wait")
		if err == nil && v != "done" {
			err = fmt.Errorf("answered %v", v)
		}
		answer <- err
	}()
	<-entered
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()
	testutil.WaitFor(t, wait, func() bool {
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			conn.Close()
		}
		return err != nil
	}, "new connections to be refused")
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned with a call running: %v", err)
	default:
	}
	close(release)
	if err := <-answer; err != nil {
		t.Fatalf("the call running at Shutdown: %v", err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-ran; !errors.Is(err, server.ErrServerClosed) {
		t.Fatalf("Run: %v, want ErrServerClosed", err)
	}
}

// TestCluster joins a real ZooKeeper: the namespaces are registered as
// files come and go, a cluster client calls them, Lua's slacker.call
// reaches a stateful namespace through its leader, and Shutdown leaves
// the cluster before it stops serving.
func TestCluster(t *testing.T) {
	testutil.CheckGoroutines(t)
	zks := zktest.Start(t)
	layout := cluster.Layout{Cluster: "srv"}
	dir := testutil.WriteFiles(t, map[string]string{
		"a.lua":       "function who() return 'a' end",
		"counter.lua": "_options = {stateful = true}\nlocal n = 0\nfunction inc() n = n + 1 return n end",
		"via.lua":     "function inc() return slacker.call('counter/inc') end",
	})
	srv, err := server.New(server.Config{Dir: dir, Addr: "127.0.0.1:0", Cluster: server.ClusterConfig{
		ZooKeeper: []string{zks.Addr}, Layout: layout, SessionTimeout: 2 * time.Second, LeaveDelay: 10 * time.Millisecond,
	}})
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- srv.Run(context.Background()) }()
	t.Cleanup(func() { srv.Close() })
	<-srv.Ready()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	cc, err := cluster.NewClient(ctx, cluster.ClientConfig{ZooKeeper: []string{zks.Addr}, Layout: layout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	// Registering follows serving: the client sees a once it is done.
	var v any
	testutil.WaitFor(t, wait, func() bool { v, err = call(cc, "a/who"); return err == nil }, "a/who to be served in the cluster")
	if v != "a" {
		t.Fatalf("a/who through the cluster: %v", v)
	}
	for want := int64(1); want <= 2; want++ {
		testutil.WaitFor(t, wait, func() bool { v, err = call(cc, "via/inc"); return err == nil }, "via/inc to reach the leader")
		if v != want {
			t.Fatalf("via/inc: %v, want %d", v, want)
		}
	}
	os.Remove(filepath.Join(dir, "a.lua"))
	testutil.WaitFor(t, wait, func() bool {
		servers, err := cc.Servers(ctx, "a")
		return err == nil && len(servers) == 0
	}, "a to be unregistered")
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-ran; !errors.Is(err, server.ErrServerClosed) {
		t.Fatalf("Run: %v", err)
	}
	testutil.WaitFor(t, wait, func() bool {
		servers, err := cc.Servers(ctx, "via")
		return err == nil && len(servers) == 0
	}, "the server to have left the cluster")
}

// TestRunFails checks that Run reports a listener it can't make, having
// closed what it had started, and that the server can then be closed.
func TestRunFails(t *testing.T) {
	testutil.CheckGoroutines(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	srv, err := server.New(server.Config{Dir: t.TempDir(), Addr: "127.0.0.1:0", HTTP: taken.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	err = srv.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("Run: %v, want the HTTP address in use", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Run(context.Background()); err == nil {
		t.Fatal("a second Run did not fail")
	}
}

// TestShutdownStopsLoading checks that Shutdown stops a start that is
// slow to load its files: a file that spins at its top level, with
// a minute to do it.
func TestShutdownStopsLoading(t *testing.T) {
	testutil.CheckGoroutines(t)
	dir := testutil.WriteFiles(t, map[string]string{
		"a_broken.lua": "function (", // loaded first, and logged
		"b_spin.lua":   "while true do end",
	})
	log, logs := testutil.NewLogger()
	srv, err := server.New(server.Config{Dir: dir, Addr: "127.0.0.1:0", Engine: engine.Config{Timeout: time.Minute}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- srv.Run(context.Background()) }()
	testutil.WaitFor(t, wait, func() bool { return strings.Contains(logs.String(), "a_broken.lua") }, "the first file to be loaded")
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ran:
		if !errors.Is(err, server.ErrServerClosed) {
			t.Fatalf("Run: %v, want ErrServerClosed", err)
		}
	case <-time.After(wait):
		t.Fatal("Run goes on loading after Shutdown")
	}
	if srv.Addr() != nil {
		t.Fatal("the server serves")
	}
}

// TestCloseCutsShutdownShort checks that a Close while Shutdown waits for
// a call cancels the call, and both return.
func TestCloseCutsShutdownShort(t *testing.T) {
	testutil.CheckGoroutines(t)
	entered := make(chan struct{}, 1)
	gate := map[string][]namespaces.GoFunction{"gate": {{Name: "wait", Fn: func(ctx context.Context, _ []any) (any, error) {
		entered <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	}}}}
	srv := start(t, server.Config{Dir: t.TempDir(), Go: gate})
	c := dial(t, srv)
	answer := make(chan error, 1)
	go func() { _, err := call(c, "gate/wait"); answer <- err }()
	<-entered
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()
	testutil.WaitFor(t, wait, func() bool {
		conn, err := net.Dial("tcp", srv.Addr().String())
		if err == nil {
			conn.Close()
		}
		return err != nil
	}, "Shutdown to stop taking connections")
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-answer; err == nil {
		t.Fatal("the call survived Close")
	}
	select {
	case <-shut:
	case <-time.After(wait):
		t.Fatal("Shutdown still waits after Close")
	}
}
