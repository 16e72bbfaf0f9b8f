package client

import (
	"context"
	"runtime"
	"testing"

	"github.com/slacker-lua/slacker-lua/transport"
)

// benchClient serves an add function of Go on a real server and dials it.
func benchClient(b *testing.B, ct transport.ContentType) *Client {
	s := startServer(b, funcs{"m/add": testFuncs()["m/add"]}, "")
	return dial(b, s.addr, Config{ContentType: ct})
}

// BenchmarkCall makes one call at a time: the round trip's latency.
func BenchmarkCall(b *testing.B) {
	for _, ct := range contentTypes {
		b.Run(ct.String(), func(b *testing.B) {
			c := benchClient(b, ct)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if n, err := CallAs[int64](ctx, c, "m/add", 1, 2); err != nil || n != 3 {
					b.Fatalf("add = %d, %v", n, err)
				}
			}
		})
	}
}

// BenchmarkCallParallel makes calls from 64 goroutines on one client: the
// throughput of one connection, with frames coalesced both ways.
func BenchmarkCallParallel(b *testing.B) {
	for _, ct := range contentTypes {
		b.Run(ct.String(), func(b *testing.B) {
			c := benchClient(b, ct)
			ctx := context.Background()
			procs := runtime.GOMAXPROCS(0)
			b.SetParallelism((64 + procs - 1) / procs)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if n, err := CallAs[int64](ctx, c, "m/add", 1, 2); err != nil || n != 3 {
						b.Errorf("add = %d, %v", n, err)
						return
					}
				}
			})
		})
	}
}
