package grpcbench

import (
	"context"

	"google.golang.org/grpc"
)

// BenchServer is the service's server API.
type BenchServer interface {
	Add(context.Context, *AddRequest) (*AddReply, error)
	Echo(context.Context, *EchoMessage) (*EchoMessage, error)
}

// Full method names.
const (
	AddMethod  = "/bench.Bench/Add"
	EchoMethod = "/bench.Bench/Echo"
)

// ServiceDesc describes the service bench.Bench to grpc.Server.RegisterService.
var ServiceDesc = grpc.ServiceDesc{
	ServiceName: "bench.Bench",
	HandlerType: (*BenchServer)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Add", Handler: addHandler},
		{MethodName: "Echo", Handler: echoHandler},
	},
	Metadata: "bench.proto",
}

func addHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	in := new(AddRequest)
	if err := dec(in); err != nil {
		return nil, err
	}
	if interceptor == nil {
		return srv.(BenchServer).Add(ctx, in)
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: AddMethod}
	return interceptor(ctx, in, info, func(ctx context.Context, req any) (any, error) {
		return srv.(BenchServer).Add(ctx, req.(*AddRequest))
	})
}

func echoHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	in := new(EchoMessage)
	if err := dec(in); err != nil {
		return nil, err
	}
	if interceptor == nil {
		return srv.(BenchServer).Echo(ctx, in)
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: EchoMethod}
	return interceptor(ctx, in, info, func(ctx context.Context, req any) (any, error) {
		return srv.(BenchServer).Echo(ctx, req.(*EchoMessage))
	})
}

// Server is the Go handler: it adds and echoes.
type Server struct{}

// Add returns a + b.
func (Server) Add(_ context.Context, in *AddRequest) (*AddReply, error) {
	return &AddReply{Sum: in.A + in.B}, nil
}

// Echo returns its message.
func (Server) Echo(_ context.Context, in *EchoMessage) (*EchoMessage, error) {
	return &EchoMessage{S: in.S}, nil
}

// NewServer returns a gRPC server with the service registered, using
// Codec, with gRPC's defaults otherwise.
func NewServer(opts ...grpc.ServerOption) *grpc.Server {
	s := grpc.NewServer(append([]grpc.ServerOption{grpc.ForceServerCodec(Codec{})}, opts...)...)
	s.RegisterService(&ServiceDesc, Server{})
	return s
}

// DialOption makes a client connection use Codec.
func DialOption() grpc.DialOption {
	return grpc.WithDefaultCallOptions(grpc.ForceCodec(Codec{}))
}

// Add calls Add on cc, which was dialled with DialOption, as the
// generated client would.
func Add(ctx context.Context, cc grpc.ClientConnInterface, a, b int64) (int64, error) {
	out := new(AddReply)
	if err := cc.Invoke(ctx, AddMethod, &AddRequest{A: a, B: b}, out, grpc.StaticMethod()); err != nil {
		return 0, err
	}
	return out.Sum, nil
}

// Echo calls Echo on cc, which was dialled with DialOption, as the
// generated client would.
func Echo(ctx context.Context, cc grpc.ClientConnInterface, s string) (string, error) {
	out := new(EchoMessage)
	if err := cc.Invoke(ctx, EchoMethod, &EchoMessage{S: s}, out, grpc.StaticMethod()); err != nil {
		return "", err
	}
	return out.S, nil
}
