package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/internal/loadgen"
	"github.com/slacker-lua/slacker-lua/transport"
)

// The slacker-lua systems: the workloads in Lua and in Go on one server,
// over msgpack and JSON, called over one connection.
func init() {
	for _, impl := range []struct{ name, ns string }{{"lua", "bench"}, {"go", "gobench"}} {
		for _, ct := range []transport.ContentType{transport.ContentMsgpack, transport.ContentJSON} {
			systems = append(systems, system{
				name: fmt.Sprintf("slacker-lua %s %v", impl.name, ct),
				start: func(ctx context.Context, bin string) (*server, error) {
					return startServer(ctx, filepath.Join(bin, "slacker-server"))
				},
				dial: func(ctx context.Context, s *server, w workload) (loadgen.Call, func(), error) {
					c, err := client.Dial(ctx, s.addr, client.Config{ContentType: ct})
					if err != nil {
						return nil, nil, err
					}
					return slackerCall(c, impl.ns, w), func() { c.Close() }, nil
				},
			})
		}
	}
}

func slackerCall(c *client.Client, ns string, w workload) loadgen.Call {
	switch w {
	case addWork:
		fn := ns + "/add"
		return func(ctx context.Context, _ int) error {
			n, err := client.CallAs[int64](ctx, c, fn, 1, 2)
			if err == nil && n != 3 {
				err = fmt.Errorf("add(1, 2) = %d", n)
			}
			return err
		}
	default:
		fn := ns + "/echo"
		return func(ctx context.Context, _ int) error {
			s, err := client.CallAs[string](ctx, c, fn, echoArg)
			if err == nil && s != echoArg {
				err = fmt.Errorf("echo returned %d bytes, not the %d sent", len(s), len(echoArg))
			}
			return err
		}
	}
}
