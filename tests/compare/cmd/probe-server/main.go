// Command probe-server is the practical-limit probe's server (package
// internal/probe): add and echo over length + id framed requests, in Go,
// or with -lua in a gopher-lua VM per connection. It prints the address it
// listens at as its first line of output, and serves until SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/slacker-lua/slacker-lua/tests/compare/internal/probe"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("probe-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "the address to listen at")
	useLua := fs.Bool("lua", false, "run add and echo in gopher-lua rather than Go")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(stderr, "probe-server:", err)
		return 1
	}
	fmt.Fprintln(stdout, ln.Addr()) // the harness reads the address here
	srv := &probe.Server{Lua: *useLua}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, probe.ErrServerClosed) {
		fmt.Fprintln(stderr, "probe-server:", err)
		return 1
	}
	return 0
}
