package tests

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/engine"
	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/namespaces"
	"github.com/slacker-lua/slacker-lua/transport"
)

// BenchmarkAdd measures calls per second of a trivial add, written in Lua
// and in Go, served by one server and called over one connection by 1 and
// by 64 concurrent callers. Client and server share the machine's cores.
//
//	go test -run '^$' -bench Add -benchtime 2s ./tests/
func BenchmarkAdd(b *testing.B) {
	s := benchServer(b)
	for _, ct := range []transport.ContentType{transport.ContentMsgpack, transport.ContentJSON, transport.ContentEDN, transport.ContentNippy} {
		for _, impl := range []struct{ name, fn string }{{"lua", "bench/add"}, {"go", "gobench/add"}} {
			for _, callers := range []int{1, 64} {
				name := fmt.Sprintf("%s/%s/callers=%d", ct, impl.name, callers)
				b.Run(name, func(b *testing.B) {
					c := dial(b, s.addr, client.Config{ContentType: ct})
					benchCalls(b, c, impl.fn, callers)
				})
			}
		}
	}
}

// benchServer serves add(a, b) in Lua as bench/add and in Go as
// gobench/add.
func benchServer(b *testing.B) *server {
	dir := testutil.WriteFiles(b, map[string]string{"bench.lua": "function add(a, b) return a + b end"})
	s := serveDir(b, dir, engine.Config{}, transport.ServerConfig{})
	err := s.reg.SetGo("gobench", []namespaces.GoFunction{{
		Name:   "add",
		Params: []string{"a", "b"},
		Fn: func(ctx context.Context, args []any) (any, error) {
			if len(args) != 2 {
				return nil, fmt.Errorf("add: want 2 arguments, got %d", len(args))
			}
			a, ok1 := args[0].(int64)
			b, ok2 := args[1].(int64)
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("add: want integers, got %T and %T", args[0], args[1])
			}
			return a + b, nil
		},
	}})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkServerAdd measures the server alone: a raw connection keeps
// 64 msgpack calls of add(1, 2) in flight, each with a deadline, as the
// Go client sends them, written and read with buffers made once, so the
// allocations reported are the server's, per call.
//
//	go test -run '^$' -bench ServerAdd -benchtime 3s ./tests/
func BenchmarkServerAdd(b *testing.B) {
	s := benchServer(b)
	for _, fn := range []string{"bench/add", "gobench/add"} {
		b.Run(strings.Split(fn, "/")[0], func(b *testing.B) {
			nc, err := net.Dial("tcp", s.addr)
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			const window = 64
			args, _ := transport.Msgpack.Marshal([]any{1, 2})
			// A deadline within the server's own timeout (10s), as the
			// client's default timeout sends: a later one has the engine
			// set a timer of its own for each call. Good for -benchtime
			// up to 8s.
			deadline, _ := transport.Msgpack.Marshal(time.Now().Add(9 * time.Second).UnixMilli())
			exts := []transport.Extension{{ID: transport.DeadlineExtension, Value: deadline}}
			var batch []byte
			for tid := int32(1); tid <= window; tid++ {
				batch, err = transport.AppendPacket(batch, &transport.Packet{Version: transport.V6, TID: tid, Type: transport.TypeRequest,
					ContentType: transport.ContentMsgpack, Name: fn, Body: args, Extensions: exts})
				if err != nil {
					b.Fatal(err)
				}
			}
			answer, _ := transport.Msgpack.Marshal(3)
			one, err := transport.AppendPacket(nil, &transport.Packet{Version: transport.V6, TID: 1, Type: transport.TypeResponse,
				ContentType: transport.ContentMsgpack, Body: answer, Extensions: exts})
			if err != nil {
				b.Fatal(err)
			}
			answers := make([]byte, window*len(one))
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; done += window {
				if _, err := nc.Write(batch); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(nc, answers); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			var p transport.Packet
			if err := transport.NewDecoder(bytes.NewReader(answers), transport.Limits{}).Decode(&p); err != nil ||
				p.Type != transport.TypeResponse || p.Code != transport.CodeSuccess || !bytes.Equal(p.Body, answer) {
				b.Fatalf("answered %+v, %v", p, err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
		})
	}
}

// benchCalls makes b.N calls of fn(1, 2) from callers goroutines and
// reports calls/s.
func benchCalls(b *testing.B, c *client.Client, fn string, callers int) {
	ctx := context.Background()
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				n, err := client.CallAs[int64](ctx, c, fn, 1, 2)
				if err == nil && n != 3 {
					err = fmt.Errorf("add(1, 2) = %d", n)
				}
				if err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}
