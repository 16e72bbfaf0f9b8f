// Command grpc-server is the comparison's gRPC-go server: the service of
// package internal/grpcbench, add and echo as unary calls with a Go
// handler, with gRPC's default server options. It prints the address it
// listens at as its first line of output, and serves until SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/slacker-lua/slacker-lua/tests/compare/internal/grpcbench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("grpc-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "the address to listen at")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(stderr, "grpc-server:", err)
		return 1
	}
	fmt.Fprintln(stdout, ln.Addr()) // the harness reads the address here
	srv := grpcbench.NewServer()
	go func() {
		<-ctx.Done()
		srv.Stop()
	}()
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(stderr, "grpc-server:", err)
		return 1
	}
	return 0
}
