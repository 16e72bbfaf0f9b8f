// Command grpc-server is the comparison's gRPC-go server: the service of
// package internal/grpcbench, add and echo as unary calls with a Go
// handler, with gRPC's default server options. It prints the address it
// listens at as its first line of output, and serves until SIGTERM.
package main

import (
	"net"

	"github.com/slacker-lua/slacker-lua/tests/compare/internal/grpcbench"
	"github.com/slacker-lua/slacker-lua/tests/compare/internal/serve"
)

func main() {
	serve.Main("grpc-server", nil, func() (func(net.Listener) error, func(), error, error) {
		srv := grpcbench.NewServer()
		return srv.Serve, srv.Stop, nil, nil
	})
}
