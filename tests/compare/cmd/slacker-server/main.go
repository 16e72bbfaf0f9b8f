// Command slacker-server is slacker-lua's server as the comparison runs
// it: the Lua functions of the workloads in namespace bench, and the same
// in Go in namespace gobench, served on one listener.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/slacker-lua/slacker-lua/namespaces"
	"github.com/slacker-lua/slacker-lua/transport"
)

const benchLua = `function add(a, b) return a + b end
function echo(s) return s end
`

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "the address to listen at")
	flag.Parse()
	dir, err := os.MkdirTemp("", "slacker-server")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "bench.lua"), []byte(benchLua), 0o644); err != nil {
		log.Fatal(err)
	}
	reg, err := namespaces.Open(dir, namespaces.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer reg.Close()
	if err := reg.SetGo("gobench", goFunctions); err != nil {
		log.Fatal(err)
	}
	srv, err := transport.NewServer(reg, transport.ServerConfig{})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ln.Addr()) // the harness reads the address here
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && err != transport.ErrServerClosed {
		log.Fatal(err)
	}
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
