package server_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/namespaces"
	"github.com/slacker-lua/slacker-lua/server"
)

// A server of a folder of Lua files and of a Go namespace, called over
// the binary protocol.
func Example() {
	dir, _ := os.MkdirTemp("", "lua")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "greet.lua"), []byte(`
function hello(name) return "hello, " .. name end
`), 0o644)

	srv, err := server.New(server.Config{
		Dir:  dir,
		Addr: "127.0.0.1:0",
		Go: map[string][]namespaces.GoFunction{"math": {{
			Name: "add",
			Fn: func(ctx context.Context, args []any) (any, error) {
				return args[0].(int64) + args[1].(int64), nil
			},
		}}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	ran := make(chan error, 1)
	go func() { ran <- srv.Run(ctx) }()
	defer srv.Shutdown(ctx)
	select {
	case <-srv.Ready():
	case err := <-ran:
		fmt.Println(err)
		return
	}

	c, err := client.Dial(ctx, srv.Addr().String(), client.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	for _, call := range []struct {
		name string
		args []any
	}{{"greet/hello", []any{"world"}}, {"math/add", []any{1, 2}}} {
		res, err := c.Call(ctx, call.name, call.args...)
		var v any
		if err == nil {
			err = res.Decode(&v)
		}
		fmt.Println(call.name, v, err)
	}
	// Output:
	// greet/hello hello, world <nil>
	// math/add 3 <nil>
}
