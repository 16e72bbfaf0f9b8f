// Command slacker-server is slacker-lua's server as the comparison runs
// it: the Lua functions of the workloads in namespace bench, and the same
// in Go in namespace gobench, served on one listener.
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/slacker-lua/slacker-lua/namespaces"
	"github.com/slacker-lua/slacker-lua/tests/compare/internal/serve"
	"github.com/slacker-lua/slacker-lua/transport"
)

const benchLua = `function add(a, b) return a + b end
function echo(s) return s end
`

func main() {
	var dir string
	defer func() { os.RemoveAll(dir) }()
	serve.Main("slacker-server", nil, func() (func(net.Listener) error, func(), error, error) {
		var err error
		if dir, err = os.MkdirTemp("", "slacker-server"); err != nil {
			return nil, nil, nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, "bench.lua"), []byte(benchLua), 0o644); err != nil {
			return nil, nil, nil, err
		}
		reg, err := namespaces.Open(context.Background(), dir, namespaces.Config{})
		if err != nil {
			return nil, nil, nil, err
		}
		if err := reg.SetGo("gobench", goFunctions); err != nil {
			return nil, nil, nil, err
		}
		srv, err := transport.NewServer(reg, transport.ServerConfig{})
		if err != nil {
			return nil, nil, nil, err
		}
		return srv.Serve, func() { srv.Close() }, transport.ErrServerClosed, nil
	})
}

var goFunctions = []namespaces.GoFunction{
	{Name: "add", Params: []string{"a", "b"}, Fn: func(_ context.Context, args []any) (any, error) {
		if len(args) != 2 {
			return nil, fmt.Errorf("add: want 2 arguments, got %d", len(args))
		}
		a, ok1 := args[0].(int64)
		b, ok2 := args[1].(int64)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("add: want integers, got %T and %T", args[0], args[1])
		}
		return a + b, nil
	}},
	{Name: "echo", Params: []string{"s"}, Fn: func(_ context.Context, args []any) (any, error) {
		if len(args) != 1 {
			return nil, fmt.Errorf("echo: want 1 argument, got %d", len(args))
		}
		return args[0], nil
	}},
}
