package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/slacker-lua/slacker-lua/internal/loadgen"
	"github.com/slacker-lua/slacker-lua/tests/compare/internal/probe"
)

// The practical-limit probe (package internal/probe): one connection,
// length + id framed, writes coalesced on both sides, no serialization;
// the work done in Go, or in a gopher-lua VM. It is the yardstick: how
// fast request-response over one loopback connection can go on this
// machine, with the same load generator as the others.
func init() {
	for _, v := range []struct {
		name string
		lua  bool
	}{{"probe go", false}, {"probe gopher-lua", true}} {
		systems = append(systems, system{
			name: v.name,
			start: func(ctx context.Context, bin string) (*server, error) {
				var args []string
				if v.lua {
					args = append(args, "-lua")
				}
				return startServer(ctx, filepath.Join(bin, "probe-server"), args...)
			},
			dial: func(ctx context.Context, s *server, w workload) (loadgen.Call, func(), error) {
				c, err := probe.Dial(ctx, s.addr)
				if err != nil {
					return nil, nil, err
				}
				return probeCall(c, w), func() { c.Close() }, nil
			},
		})
	}
}

func probeCall(c *probe.Client, w workload) loadgen.Call {
	switch w {
	case addWork:
		return func(ctx context.Context, _ int) error {
			n, err := c.Add(ctx, 1, 2)
			if err == nil && n != 3 {
				err = fmt.Errorf("add(1, 2) = %d", n)
			}
			return err
		}
	default:
		arg := []byte(echoArg)
		// The answers land in reused buffers, as the probe's client
		// allows: the probe measures the connection, not the allocator.
		bufs := sync.Pool{New: func() any { return new([]byte) }}
		return func(ctx context.Context, _ int) error {
			buf := bufs.Get().(*[]byte)
			defer bufs.Put(buf)
			got, err := c.Echo(ctx, (*buf)[:0], arg)
			*buf = got
			if err == nil && !bytes.Equal(got, arg) {
				err = fmt.Errorf("echo returned %d bytes, not the %d sent", len(got), len(arg))
			}
			return err
		}
	}
}
