package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"image/png"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/slacker-lua/slacker-lua/tests/compare/internal/grpcbench"
	"github.com/slacker-lua/slacker-lua/tests/compare/internal/probe"
)

func TestParseStatCPU(t *testing.T) {
	// Fields 14 and 15 (utime, stime) are 250 and 50 ticks.
	const tail = " S 1 2 3 0 -1 4194560 1234 0 0 0 250 50 0 0 20 0 9 0 100 123456 789"
	for _, tc := range []struct {
		name, stat string
		want       time.Duration
		bad        bool
	}{
		{name: "plain", stat: "4242 (redis-server)" + tail, want: 3 * time.Second},
		{name: "spaces and parens in the name", stat: "4242 (a (b) c)" + tail, want: 3 * time.Second},
		{name: "zero", stat: "1 (x) S 1 2 3 0 -1 0 0 0 0 0 0 0 0 0", want: 0},
		{name: "no name", stat: "4242 redis-server S 1 2", bad: true},
		{name: "short", stat: "4242 (x) S 1 2 3", bad: true},
		{name: "not a number", stat: "1 (x) S 1 2 3 0 -1 0 0 0 0 0 u 7 0 0", bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatCPU(tc.stat)
			switch {
			case tc.bad && err == nil:
				t.Fatalf("parseStatCPU = %v, want an error", got)
			case !tc.bad && err != nil:
				t.Fatalf("parseStatCPU: %v", err)
			case !tc.bad && got != tc.want:
				t.Fatalf("parseStatCPU = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseRSS(t *testing.T) {
	for _, tc := range []struct {
		name, status string
		want         int64
		bad          bool
	}{
		{name: "plain", status: "Name:\tx\nVmPeak:\t  9000 kB\nVmRSS:\t    1234 kB\nThreads:\t4\n", want: 1234 << 10},
		{name: "last line", status: "Name:\tx\nVmRSS:\t7 kB", want: 7 << 10},
		{name: "missing", status: "Name:\tx\nThreads:\t4\n", bad: true},
		{name: "other unit", status: "VmRSS:\t1 MB\n", bad: true},
		{name: "not a number", status: "VmRSS:\tmany kB\n", bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseRSS(tc.status)
			switch {
			case tc.bad && err == nil:
				t.Fatalf("parseRSS = %d, want an error", got)
			case !tc.bad && err != nil:
				t.Fatalf("parseRSS: %v", err)
			case !tc.bad && got != tc.want:
				t.Fatalf("parseRSS = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestThousands(t *testing.T) {
	for _, tc := range []struct {
		n    float64
		want string
	}{
		{0, "0"}, {7, "7"}, {999, "999"}, {999.6, "1,000"}, {1000, "1,000"},
		{12345, "12,345"}, {123456, "123,456"}, {1234567.4, "1,234,567"},
	} {
		if got := thousands(tc.n); got != tc.want {
			t.Errorf("thousands(%v) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestRowsOrder(t *testing.T) {
	if len(systems) < 3 {
		t.Fatalf("%d systems registered, want 3 or more", len(systems))
	}
	a, b, c := systems[0].name, systems[1].name, systems[2].name
	in := []point{
		{system: c, workload: "echo", callers: 1},
		{system: a, workload: "echo", callers: 64},
		{system: b, workload: "add", callers: 64},
		{system: c, workload: "add", callers: 1},
		{system: a, workload: "add", callers: 64},
		{system: a, workload: "add", callers: 1},
		{system: b, workload: "echo", callers: 1},
		{system: a, workload: "echo", callers: 1},
	}
	want := []point{
		{system: a, workload: "add", callers: 1},
		{system: c, workload: "add", callers: 1},
		{system: a, workload: "add", callers: 64},
		{system: b, workload: "add", callers: 64},
		{system: a, workload: "echo", callers: 1},
		{system: b, workload: "echo", callers: 1},
		{system: c, workload: "echo", callers: 1},
		{system: a, workload: "echo", callers: 64},
	}
	orig := append([]point(nil), in...)
	got := rows(in)
	for i := range want {
		if got[i].system != want[i].system || got[i].workload != want[i].workload || got[i].callers != want[i].callers {
			t.Fatalf("rows[%d] = %s %s %d, want %s %s %d", i,
				got[i].workload, got[i].system, got[i].callers, want[i].workload, want[i].system, want[i].callers)
		}
	}
	for i := range in {
		if in[i].system != orig[i].system || in[i].callers != orig[i].callers {
			t.Fatal("rows reordered its argument")
		}
	}
}

func TestSystemNamesUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range systems {
		if seen[s.name] {
			t.Errorf("two systems named %q", s.name)
		}
		seen[s.name] = true
	}
	for _, name := range []string{"slacker-lua bench lua msgpack", "redis FCALL", "redis-benchmark FCALL", "grpc-go unary", "probe go", "probe gopher-lua"} {
		if !seen[name] {
			t.Errorf("no system %q", name)
		}
	}
}

// probeFrames are requests and replies, each encoded by the functions a
// side uses, with what ReadFrame must find in them.
var probeFrames = []struct {
	name  string
	frame []byte
	id    uint32
	op    byte
	body  []byte
}{
	{"add", probe.AppendAdd(nil, 7, 1, 2), 7, probe.OpAdd,
		[]byte{0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2}},
	{"add negative", probe.AppendAdd(nil, 1<<31, -1, 0), 1 << 31, probe.OpAdd,
		[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0}},
	{"echo", probe.AppendFrame(nil, 0xdeadbeef, probe.OpEcho, []byte(echoArg)), 0xdeadbeef, probe.OpEcho, []byte(echoArg)},
	{"empty reply", probe.AppendFrame(nil, 3, probe.OpOK, nil), 3, probe.OpOK, []byte{}},
	{"error reply", probe.AppendFrame(nil, 4, probe.OpError, []byte("no")), 4, probe.OpError, []byte("no")},
}

func TestProbeFrameLayout(t *testing.T) {
	// The header of doc.go's table: size u32, id u32, op u8, big-endian.
	got := probe.AppendFrame(nil, 0x01020304, probe.OpEcho, []byte("hi"))
	want := []byte{0, 0, 0, 2, 1, 2, 3, 4, probe.OpEcho, 'h', 'i'}
	if !bytes.Equal(got, want) {
		t.Fatalf("frame = % x, want % x", got, want)
	}
}

func TestProbeFrameRoundTrip(t *testing.T) {
	for _, tc := range probeFrames {
		t.Run(tc.name, func(t *testing.T) {
			checkFrame(t, bytes.NewReader(tc.frame), tc.id, tc.op, tc.body)
			checkFrame(t, iotest.OneByteReader(bytes.NewReader(tc.frame)), tc.id, tc.op, tc.body)
			for i := 1; i < len(tc.frame); i++ { // in two reads, split at every byte
				r := io.MultiReader(bytes.NewReader(tc.frame[:i]), bytes.NewReader(tc.frame[i:]))
				checkFrame(t, r, tc.id, tc.op, tc.body)
			}
		})
	}
}

func checkFrame(t *testing.T, r io.Reader, id uint32, op byte, body []byte) {
	t.Helper()
	var h probe.Header
	got, err := probe.ReadFrame(r, &h, make([]byte, 0, 4))
	if err != nil {
		t.Fatalf("ReadFrame: %v", err)
	}
	if h.ID() != id || h.Op() != op || int(h.Size()) != len(body) || !bytes.Equal(got, body) {
		t.Fatalf("ReadFrame = id %d op %d size %d body % x, want id %d op %d body % x",
			h.ID(), h.Op(), h.Size(), got, id, op, body)
	}
	if _, err := probe.ReadFrame(r, &h, got); !errors.Is(err, io.EOF) {
		t.Fatalf("ReadFrame after the frame: %v, want io.EOF", err)
	}
}

func TestProbeFrameBackToBack(t *testing.T) {
	var stream []byte
	for _, tc := range probeFrames {
		stream = append(stream, tc.frame...)
	}
	r := bufio.NewReader(iotest.HalfReader(bytes.NewReader(stream)))
	var (
		h    probe.Header
		body []byte
		err  error
	)
	for _, tc := range probeFrames {
		if body, err = probe.ReadFrame(r, &h, body); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if h.ID() != tc.id || !bytes.Equal(body, tc.body) {
			t.Fatalf("%s: id %d body % x, want id %d body % x", tc.name, h.ID(), body, tc.id, tc.body)
		}
	}
}

func TestProbeFrameErrors(t *testing.T) {
	var h probe.Header
	t.Run("too large", func(t *testing.T) {
		frame := probe.AppendHeader(nil, 1, probe.OpEcho, probe.MaxBody+1)
		r := &countingReader{r: bytes.NewReader(append(frame, make([]byte, 100)...))}
		if _, err := probe.ReadFrame(r, &h, nil); !errors.Is(err, probe.ErrTooLarge) {
			t.Fatalf("ReadFrame: %v, want ErrTooLarge", err)
		}
		if r.n != probe.HeaderSize {
			t.Fatalf("ReadFrame read %d bytes, want only the header's %d", r.n, probe.HeaderSize)
		}
	})
	t.Run("largest", func(t *testing.T) {
		frame := probe.AppendFrame(nil, 1, probe.OpEcho, make([]byte, probe.MaxBody))
		if _, err := probe.ReadFrame(bytes.NewReader(frame), &h, nil); err != nil {
			t.Fatalf("ReadFrame: %v", err)
		}
	})
	full := probe.AppendAdd(nil, 1, 1, 2)
	for _, n := range []int{1, probe.HeaderSize - 1, probe.HeaderSize, len(full) - 1} {
		if _, err := probe.ReadFrame(bytes.NewReader(full[:n]), &h, nil); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("ReadFrame of %d of %d bytes: %v, want io.ErrUnexpectedEOF", n, len(full), err)
		}
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// startProbe serves a probe server on a loopback listener until the test
// ends.
func startProbe(t *testing.T, useLua bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &probe.Server{Lua: useLua}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		srv.Close() // twice is fine
		if err := <-served; !errors.Is(err, probe.ErrServerClosed) {
			t.Errorf("Serve: %v, want ErrServerClosed", err)
		}
	})
	return ln.Addr().String()
}

func TestProbeServer(t *testing.T) {
	for _, useLua := range []bool{false, true} {
		name := map[bool]string{false: "go", true: "gopher-lua"}[useLua]
		t.Run(name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			t.Cleanup(func() { checkGoroutines(t, before) }) // after the server's Close
			addr := startProbe(t, useLua)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := probe.Dial(ctx, addr)
			if err != nil {
				t.Fatal(err)
			}
			if n, err := c.Add(ctx, 1, 2); err != nil || n != 3 {
				t.Fatalf("Add(1, 2) = %d, %v", n, err)
			}
			if n, err := c.Add(ctx, -40, -2); err != nil || n != -42 {
				t.Fatalf("Add(-40, -2) = %d, %v", n, err)
			}
			got, err := c.Echo(ctx, []byte("kept:"), []byte(echoArg))
			if err != nil || string(got) != "kept:"+echoArg {
				t.Fatalf("Echo = %d bytes, %v; want the prefix and the %d sent", len(got), err, len(echoArg))
			}
			if got, err := c.Echo(ctx, nil, nil); err != nil || len(got) != 0 {
				t.Fatalf("Echo(empty) = %q, %v", got, err)
			}

			// Many callers at once, so that frames coalesce on both sides
			// and replies must be matched to their callers by id.
			var wg sync.WaitGroup
			errs := make(chan error, 32)
			for i := range 32 {
				wg.Go(func() {
					for j := range 200 {
						a := int64(i*1000 + j)
						n, err := c.Add(ctx, a, 1)
						if err == nil && n != a+1 {
							err = errors.New("a reply went to the wrong caller")
						}
						if err != nil {
							errs <- err
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}

			c.Close()
			c.Close() // twice is fine
			if _, err := c.Add(ctx, 1, 2); !errors.Is(err, probe.ErrClosed) {
				t.Fatalf("Add after Close: %v, want ErrClosed", err)
			}
		})
	}
}

// A request written in pieces, with pauses between, is answered once it
// is whole; a request the server cannot serve gets an error reply.
func TestProbeServerSplitRequest(t *testing.T) {
	addr := startProbe(t, false)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := probe.AppendAdd(nil, 99, 20, 22)
	req = probe.AppendFrame(req, 100, 0x7f, nil) // an unknown op
	for _, part := range [][]byte{req[:3], req[3:11], req[11:]} {
		if _, err := conn.Write(part); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // so each part is its own read
	}
	var h probe.Header
	body, err := probe.ReadFrame(conn, &h, nil)
	if err != nil {
		t.Fatal(err)
	}
	if h.ID() != 99 || h.Op() != probe.OpOK || len(body) != 8 || binary.BigEndian.Uint64(body) != 42 {
		t.Fatalf("reply: id %d op %d body % x, want id 99, OK, 42", h.ID(), h.Op(), body)
	}
	body, err = probe.ReadFrame(conn, &h, body)
	if err != nil {
		t.Fatal(err)
	}
	if h.ID() != 100 || h.Op() != probe.OpError || !strings.Contains(string(body), "unknown op") {
		t.Fatalf("reply: id %d op %d body %q, want id 100 and an error", h.ID(), h.Op(), body)
	}
}

// A client whose server goes away fails its calls in flight, and later
// ones, at once.
func TestProbeClientServerGone(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := probe.Dial(ctx, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	peer := <-accepted
	failed := make(chan error, 1)
	go func() { _, err := c.Add(ctx, 1, 2); failed <- err }() // never answered
	var h probe.Header
	if _, err := probe.ReadFrame(peer, &h, nil); err != nil { // the request came
		t.Fatal(err)
	}
	peer.Close()
	if err := <-failed; err == nil || ctx.Err() != nil {
		t.Fatalf("call in flight: %v, want a connection error", err)
	}
	if _, err := c.Add(ctx, 1, 2); err == nil {
		t.Fatal("call after the server left succeeded")
	}
}

func TestProbeClientCancel(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			io.Copy(io.Discard, c) // reads, never answers
		}
	}()
	c, err := probe.Dial(context.Background(), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Add(ctx, 1, 2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Add: %v, want DeadlineExceeded", err)
	}
}

// checkGoroutines waits for the goroutines started since before to end.
func checkGoroutines(t *testing.T, before int) {
	t.Helper()
	waitFor(t, 5*time.Second, func() bool { return runtime.NumGoroutine() <= before })
}

func waitFor(t *testing.T, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("gave up waiting after %v; goroutines:\n%s", d, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestGRPCCodecGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  any
		wire []byte // what protoc's generated code sends
		zero func() any
	}{
		{"add request", &grpcbench.AddRequest{A: 1, B: 2}, []byte{0x08, 1, 0x10, 2}, func() any { return new(grpcbench.AddRequest) }},
		{"add request negative", &grpcbench.AddRequest{A: -1}, []byte{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, func() any { return new(grpcbench.AddRequest) }},
		{"add request zero", &grpcbench.AddRequest{}, []byte{}, func() any { return new(grpcbench.AddRequest) }},
		{"add reply", &grpcbench.AddReply{Sum: 300}, []byte{0x08, 0xac, 0x02}, func() any { return new(grpcbench.AddReply) }},
		{"echo", &grpcbench.EchoMessage{S: "hi"}, []byte{0x0a, 2, 'h', 'i'}, func() any { return new(grpcbench.EchoMessage) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var codec grpcbench.Codec
			b, err := codec.Marshal(tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, tc.wire) {
				t.Fatalf("Marshal = % x, want % x", b, tc.wire)
			}
			got := tc.zero()
			if err := codec.Unmarshal(b, got); err != nil {
				t.Fatal(err)
			}
			if !equalMsg(got, tc.msg) {
				t.Fatalf("Unmarshal = %+v, want %+v", got, tc.msg)
			}
		})
	}
	var codec grpcbench.Codec
	// An unknown field (3, a fixed64) is skipped; bad UTF-8 and a
	// truncated varint are errors.
	var req grpcbench.AddRequest
	if err := codec.Unmarshal([]byte{0x08, 5, 0x19, 1, 2, 3, 4, 5, 6, 7, 8, 0x10, 6}, &req); err != nil || req != (grpcbench.AddRequest{A: 5, B: 6}) {
		t.Fatalf("Unmarshal with an unknown field = %+v, %v", req, err)
	}
	if err := codec.Unmarshal([]byte{0x0a, 1, 0xff}, new(grpcbench.EchoMessage)); err == nil {
		t.Fatal("Unmarshal took a string that is not UTF-8")
	}
	if err := codec.Unmarshal([]byte{0x08, 0x80}, new(grpcbench.AddReply)); err == nil {
		t.Fatal("Unmarshal took a truncated varint")
	}
}

func equalMsg(a, b any) bool {
	switch a := a.(type) {
	case *grpcbench.AddRequest:
		return *a == *b.(*grpcbench.AddRequest)
	case *grpcbench.AddReply:
		return *a == *b.(*grpcbench.AddReply)
	case *grpcbench.EchoMessage:
		return *a == *b.(*grpcbench.EchoMessage)
	}
	return false
}

func TestGRPCServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpcbench.NewServer()
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	cc, err := grpc.NewClient("passthrough:///"+ln.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpcbench.DialOption())
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, w := range []workload{addWork, echoWork} {
		if err := grpcCall(cc, w)(ctx, 0); err != nil {
			t.Errorf("%s: %v", w.name, err)
		}
	}
}

// TestChart writes the chart of made-up points and reads it back as a
// PNG, as tall as the workloads it has.
func TestChart(t *testing.T) {
	for _, tc := range []struct {
		works     []string
		minHeight int
		maxHeight int
	}{{[]string{"add", "echo"}, 800, 10000}, {[]string{"add"}, 400, 799}} {
		t.Run(strings.Join(tc.works, ","), func(t *testing.T) { testChart(t, tc.works, tc.minHeight, tc.maxHeight) })
	}
}

func testChart(t *testing.T, works []string, minHeight, maxHeight int) {
	var points []point
	for _, sys := range []string{"slacker-lua lua msgpack", "redis FCALL"} {
		for _, w := range works {
			for _, n := range []int{1, 16, 64} {
				points = append(points, point{system: sys, workload: w, callers: n,
					calls: int64(1000 * n), rate: float64(1000 * n), p99: time.Duration(n) * time.Millisecond})
			}
		}
	}
	if err := chart(filepath.Join(t.TempDir(), "one.png"), points, []int{1}); err != nil {
		t.Fatalf("chart of one count of callers: %v", err)
	}
	path := filepath.Join(t.TempDir(), "chart.png")
	if err := chart(path, points, []int{1, 16, 64}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil || cfg.Width < 500 || cfg.Height < minHeight || cfg.Height > maxHeight {
		t.Fatalf("chart: %+v, %v", cfg, err)
	}
}

// TestMedians checks that each figure of a point is the median of its
// rounds, and that a failed round fails the point.
func TestMedians(t *testing.T) {
	rounds := []point{
		{system: "a", calls: 30, rate: 3, p50: 3, p99: 10, cpuPerCall: 2, clientCPUPerCall: 9, rss: 5},
		{system: "a", calls: 10, rate: 1, p50: 1, p99: 30, cpuPerCall: 3, clientCPUPerCall: 7, rss: 5},
		{system: "a", calls: 20, rate: 2, p50: 2, p99: 20, cpuPerCall: 1, clientCPUPerCall: 8, rss: 6},
	}
	failed := point{system: "b", err: errors.New("no")}
	got := medians([][]point{rounds, {{system: "b", calls: 1}, failed}})
	want := point{system: "a", calls: 20, rate: 2, p50: 2, p99: 20, cpuPerCall: 2, clientCPUPerCall: 8, rss: 5}
	if len(got) != 2 || got[0] != want || got[1].err == nil {
		t.Fatalf("medians = %+v, want %+v and a failure", got, want)
	}
}

// The chart has a row of panels per workload run, and none for those not
// run.
func TestChartPanels(t *testing.T) {
	pts := func(works ...string) []point {
		var out []point
		for _, w := range works {
			for _, n := range []int{1, 64} {
				out = append(out, point{system: "redis FCALL", workload: w, callers: n,
					calls: 10, rate: 10, p99: time.Millisecond})
			}
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		points []point
		want   []string // the panels' titles, row by row
	}{
		{"add", pts("add"), []string{"add: calls/s", "add: p99 latency"}},
		{"echo", pts("echo"), []string{"echo: calls/s", "echo: p99 latency"}},
		{"both, in the workloads' order", pts("echo", "add"),
			[]string{"add: calls/s", "add: p99 latency", "echo: calls/s", "echo: p99 latency"}},
		{"failed points still name their workload",
			[]point{{system: "redis FCALL", workload: "echo", callers: 1, err: errors.New("no")}},
			[]string{"echo: calls/s", "echo: p99 latency"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			panels, err := panelsOf(tc.points)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, row := range panels {
				for _, p := range row {
					got = append(got, p.Title.Text)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("panels %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := panelsOf(nil); err == nil {
		t.Fatal("panelsOf(nil) made panels")
	}
}

// The table has a column per figure, the server's CPU per call and the
// load generator's side by side, and a failed point says why.
func TestTable(t *testing.T) {
	var buf bytes.Buffer
	printTable(&buf, []point{
		{system: "probe go", workload: "add", callers: 64, calls: 1000, rate: 267457.4,
			p50: 215 * time.Microsecond, p99: 558 * time.Microsecond,
			cpuPerCall: 3040 * time.Nanosecond, clientCPUPerCall: 4260 * time.Nanosecond, rss: 6 << 20},
		{system: "redis FCALL", workload: "add", callers: 64, err: errors.New("refused")},
	})
	cell := regexp.MustCompile(`\s{2,}`)
	var got [][]string
	for line := range strings.Lines(buf.String()) {
		got = append(got, cell.Split(strings.TrimSpace(line), -1))
	}
	want := [][]string{
		{"workload", "callers", "system", "calls/s", "p50", "p99", "server CPU/call", "client CPU/call", "server RSS"},
		{"add", "64", "probe go", "267,457", "215µs", "558µs", "3µs", "4.3µs", "6.0 MiB"},
		{"add", "64", "redis FCALL", "failed: refused"},
	}
	if len(got) != len(want) {
		t.Fatalf("table:\n%s\nwant %d lines", buf.String(), len(want))
	}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("line %d: %q, want %q", i, got[i], want[i])
		}
	}
}

// measureServer adds the server's CPU and memory to a run, keeps the
// figures of a run that failed after making calls, and perCall divides
// by the calls.
func TestMeasureServer(t *testing.T) {
	srv := &server{cmd: exec.Command("true")}
	srv.cmd.Process = &os.Process{Pid: os.Getpid()} // the test itself stands for the server
	r, err := measureServer(srv, func() (benchRun, error) {
		return benchRun{calls: 4, clientCPU: 8 * time.Microsecond}, nil
	})
	if err != nil || r.rss <= 0 || r.perCall(r.clientCPU) != 2*time.Microsecond {
		t.Fatalf("measureServer = %+v, %v", r, err)
	}
	failed := errors.New("2 calls failed")
	if r, err := measureServer(srv, func() (benchRun, error) { return benchRun{calls: 4}, failed }); err != failed || r.rss <= 0 {
		t.Fatalf("a run with calls and errors: %+v, %v; want its figures and its error", r, err)
	}
	if r, err := measureServer(srv, func() (benchRun, error) { return benchRun{}, failed }); err != failed || r.rss != 0 {
		t.Fatalf("a run with no calls: %+v, %v", r, err)
	}
	if (benchRun{}).perCall(time.Second) != 0 {
		t.Fatal("perCall of no calls is not 0")
	}
}

// redisBenchmarkCSV is what redis-benchmark 7.0 prints with --csv for
// one FCALL test.
const redisBenchmarkCSV = `"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"FCALL add 0 1 2","148588.41","0.167","0.032","0.159","0.255","0.399","1.911"
`

func TestParseRedisBenchmark(t *testing.T) {
	const header = `"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"` + "\n"
	for _, tc := range []struct {
		name, out string
		want      benchRun
		bad       bool
	}{
		{name: "add", out: redisBenchmarkCSV,
			want: benchRun{rate: 148588.41, p50: 159 * time.Microsecond, p99: 399 * time.Microsecond}},
		{name: "a line before the header",
			out:  "WARNING: something\n" + header + `"FCALL echo 0 slacker!","1000.00","1","0","2.5","3","4.001","5"` + "\n",
			want: benchRun{rate: 1000, p50: 2500 * time.Microsecond, p99: 4001 * time.Microsecond}},
		{name: "columns in another order",
			out:  `"p99_latency_ms","test","p50_latency_ms","rps"` + "\n" + `"0.5","x","0.25","7"` + "\n",
			want: benchRun{rate: 7, p50: 250 * time.Microsecond, p99: 500 * time.Microsecond}},
		{name: "empty", out: "", bad: true},
		{name: "no header", out: `"FCALL add 0 1 2","148588.41"` + "\n", bad: true},
		{name: "no test", out: header, bad: true},
		{name: "two tests", out: redisBenchmarkCSV + `"PING","1","1","1","1","1","1","1"` + "\n", bad: true},
		{name: "no p99 column", out: `"test","rps","p50_latency_ms"` + "\n" + `"x","1","1"` + "\n", bad: true},
		{name: "short line", out: header + `"x","1"` + "\n", bad: true},
		{name: "not a number", out: header + `"x","many","1","1","1","1","1","1"` + "\n", bad: true},
		{name: "NaN", out: header + `"x","NaN","1","1","1","1","1","1"` + "\n", bad: true},
		{name: "negative", out: header + `"x","1","1","1","-1","1","1","1"` + "\n", bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseRedisBenchmark([]byte(tc.out))
			switch {
			case tc.bad && err == nil:
				t.Fatalf("parseRedisBenchmark = %+v, want an error", got)
			case !tc.bad && err != nil:
				t.Fatalf("parseRedisBenchmark: %v", err)
			case !tc.bad && got != tc.want:
				t.Fatalf("parseRedisBenchmark = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// redisBenchmark runs redis-benchmark with the point's callers and calls
// and FCALL of the workload's function, and reads its output; here a
// script stands in for it, printing redisBenchmarkCSV and its arguments.
func TestRedisBenchmarkCommand(t *testing.T) {
	dir := t.TempDir()
	argsFile := filepath.Join(dir, "args")
	script := "#!/bin/sh\nprintf '%s\\n' \"$@\" > " + argsFile + "\ncat <<'END'\n" + redisBenchmarkCSV + "END\n"
	if err := os.WriteFile(filepath.Join(dir, "redis-benchmark"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := redisBenchmark(ctx, &server{addr: "127.0.0.1:6380"}, addWork, 64, 5000)
	if err != nil {
		t.Fatal(err)
	}
	if r.calls != 5000 || r.rate != 148588.41 || r.p99 != 399*time.Microsecond {
		t.Fatalf("redisBenchmark = %+v", r)
	}
	b, err := os.ReadFile(argsFile)
	if err != nil {
		t.Fatal(err)
	}
	want := "-h 127.0.0.1 -p 6380 -c 64 -n 5000 --csv FCALL add 0 1 2"
	if got := strings.Join(strings.Fields(string(b)), " "); got != want {
		t.Fatalf("redis-benchmark %s, want %s", got, want)
	}

	if err := os.WriteFile(filepath.Join(dir, "redis-benchmark"), []byte("#!/bin/sh\necho refused >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := redisBenchmark(ctx, &server{addr: "127.0.0.1:6380"}, addWork, 1, 1000); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("a failing redis-benchmark: %v, want its message", err)
	}
}

func TestBenchCalls(t *testing.T) {
	for _, tc := range []struct {
		rate float64
		d    time.Duration
		want int64
	}{
		{100000, 3 * time.Second, 300000},
		{100000, time.Millisecond, minBenchCalls}, // at least a few
		{0, time.Second, minBenchCalls},
	} {
		if got := benchCalls(tc.rate, tc.d); got != tc.want {
			t.Errorf("benchCalls(%v, %v) = %d, want %d", tc.rate, tc.d, got, tc.want)
		}
	}
}
