package main

import (
	"context"
	"fmt"
	"path/filepath"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/slacker-lua/slacker-lua/internal/loadgen"
	"github.com/slacker-lua/slacker-lua/tests/compare/internal/grpcbench"
)

// gRPC-go unary calls with a Go handler (cmd/grpc-server), over one
// client connection, which gRPC multiplexes as HTTP/2 streams: the way a
// Go service usually calls another. Server and client keep gRPC's
// defaults; the messages are protobuf on the wire, encoded by a codec
// written by hand (see internal/grpcbench), not by protoc's code.
func init() {
	systems = append(systems, system{
		name: "grpc-go unary",
		start: func(ctx context.Context, bin string) (*server, error) {
			return startServer(ctx, filepath.Join(bin, "grpc-server"))
		},
		dial: func(ctx context.Context, s *server, w workload) (loadgen.Call, func(), error) {
			cc, err := grpc.NewClient("passthrough:///"+s.addr,
				grpc.WithTransportCredentials(insecure.NewCredentials()), grpcbench.DialOption())
			if err != nil {
				return nil, nil, err
			}
			cc.Connect()
			return grpcCall(cc, w), func() { cc.Close() }, nil
		},
	})
}

func grpcCall(cc *grpc.ClientConn, w workload) loadgen.Call {
	switch w {
	case addWork:
		return func(ctx context.Context, _ int) error {
			n, err := grpcbench.Add(ctx, cc, 1, 2)
			if err == nil && n != 3 {
				err = fmt.Errorf("add(1, 2) = %d", n)
			}
			return err
		}
	default:
		return func(ctx context.Context, _ int) error {
			s, err := grpcbench.Echo(ctx, cc, echoArg)
			if err == nil && s != echoArg {
				err = fmt.Errorf("echo returned %d bytes, not the %d sent", len(s), len(echoArg))
			}
			return err
		}
	}
}
