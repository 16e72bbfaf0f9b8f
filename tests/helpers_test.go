package tests

import (
	"context"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/engine"
	"github.com/slacker-lua/slacker-lua/namespaces"
	"github.com/slacker-lua/slacker-lua/transport"
	"github.com/slacker-lua/slacker-lua/transport/transporttest"
)

// server is a real slacker-lua server on a loopback port.
type server struct {
	addr string
	srv  *transport.Server
	reg  *namespaces.Registry
}

// serveDir serves dir on 127.0.0.1 until the test ends.
func serveDir(t testing.TB, dir string, ecfg engine.Config, scfg transport.ServerConfig) *server {
	t.Helper()
	reg, err := namespaces.Open(context.Background(), dir, namespaces.Config{Engine: ecfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close) // after the server's own cleanup
	srv, addr := transporttest.StartServer(t, reg, scfg)
	return &server{addr: addr, srv: srv, reg: reg}
}

// serveWatched serves dir as serveDir does, and reloads its files as they
// change.
func serveWatched(t testing.TB, dir string, ecfg engine.Config, wcfg namespaces.WatchConfig) *server {
	t.Helper()
	s := serveDir(t, dir, ecfg, transport.ServerConfig{})
	if _, err := s.reg.Watch(context.Background(), wcfg); err != nil {
		t.Fatal(err)
	}
	return s
}

func dial(t testing.TB, addr string, cfg client.Config) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// callValue calls name and returns its result, failing the test on error.
func callValue(t testing.TB, c *client.Client, name string, args ...any) any {
	t.Helper()
	res, err := c.Call(context.Background(), name, args...)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	v, err := res.Value()
	if err != nil {
		t.Fatalf("%s: decoding the result: %v", name, err)
	}
	return v
}

// callAs calls name and decodes its result into a T, failing the test on
// error.
func callAs[T any](t testing.TB, c client.Caller, name string, args ...any) T {
	t.Helper()
	v, err := client.CallAs[T](context.Background(), c, name, args...)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}
