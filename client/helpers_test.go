package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/transport"
	"github.com/slacker-lua/slacker-lua/transport/transporttest"
)

// funcs is a handler of Go functions, by "namespace/function".
type funcs = transporttest.Funcs

// testFuncs are the functions most tests call.
func testFuncs() funcs {
	return funcs{
		"m/add": transporttest.Add,
		"m/echo": func(_ context.Context, args []any) (any, error) {
			if len(args) == 1 {
				return args[0], nil
			}
			return args, nil
		},
		"m/nargs": func(_ context.Context, args []any) (any, error) { return len(args), nil },
		"m/obj": func(context.Context, []any) (any, error) {
			return map[string]any{"name": "slacker", "n": 3}, nil
		},
		"m/fail": func(context.Context, []any) (any, error) {
			return nil, errors.New("kaboom: the function failed")
		},
		"m/full": func(context.Context, []any) (any, error) {
			return nil, fmt.Errorf("queue: %w", transport.ErrThreadPoolFull)
		},
		"m/cancel": func(context.Context, []any) (any, error) {
			return nil, fmt.Errorf("stopped: %w", transport.ErrCanceled)
		},
		"m/deadline": func(ctx context.Context, _ []any) (any, error) {
			d, ok := ctx.Deadline()
			if !ok {
				return nil, nil
			}
			return d.UnixMilli(), nil
		},
		// m/wait waits for its ctx to end and reports why.
		"m/wait": func(ctx context.Context, _ []any) (any, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		},
	}
}

// testServer is a real transport.Server on 127.0.0.1.
type testServer struct {
	t    testing.TB
	addr string
	srv  *transport.Server
	done chan error // Serve's result
}

// startServer serves h on a new port; addr, if not empty, reuses an
// address (to restart a server). The server is closed at cleanup.
func startServer(t testing.TB, h transport.Handler, addr string) *testServer {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	// A port just released may take a moment to be free again.
	testutil.WaitFor(t, 5*time.Second, func() bool {
		ln, err = net.Listen("tcp", addr)
		return err == nil
	}, "listening on "+addr)
	srv, err := transport.NewServer(h, transport.ServerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{t: t, addr: ln.Addr().String(), srv: srv, done: make(chan error, 1)}
	go func() { s.done <- srv.Serve(ln) }()
	t.Cleanup(s.stop)
	return s
}

// stop closes the server and waits for Serve. It can be called twice.
func (s *testServer) stop() {
	s.srv.Close()
	if err, ok := <-s.done; ok {
		close(s.done)
		if !errors.Is(err, transport.ErrServerClosed) {
			s.t.Errorf("Serve: %v", err)
		}
	}
}

// dial connects a client with shortened timeouts, closed at cleanup.
func dial(t testing.TB, addr string, cfg Config) *Client {
	t.Helper()
	if cfg.Reconnect == (Backoff{}) {
		cfg.Reconnect = Backoff{Min: 5 * time.Millisecond, Max: 50 * time.Millisecond}
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// must checks a call's error: must(f())(t) is f's value, or fails t.
func must[T any](v T, err error) func(t testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// fakeServer speaks the protocol by hand, to see the packets the client
// sends and to answer in ways the real server doesn't: late, out of order,
// or not at all.
type fakeServer struct {
	ln   net.Listener
	addr string
	// handle answers a packet; it runs on the connection's reader
	// goroutine. Nil answers pings and hellos only.
	handle func(fc *fakeConn, p *transport.Packet)

	mu       sync.Mutex
	received []transport.Packet
	conns    []*fakeConn
	accepted int

	wg sync.WaitGroup
}

// fakeConn is one connection of a fakeServer.
type fakeConn struct {
	nc net.Conn
	mu sync.Mutex
}

func (fc *fakeConn) send(p *transport.Packet) {
	b, err := transport.AppendPacket(nil, p)
	if err != nil {
		panic(err)
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.nc.Write(b)
}

// answerHousekeeping answers pings and client-hellos as a server does.
func (fc *fakeConn) answerHousekeeping(p *transport.Packet) {
	switch p.Type {
	case transport.TypePing:
		fc.send(&transport.Packet{Version: p.Version, TID: p.TID, Type: transport.TypePong})
	case transport.TypeClientHello:
		fc.send(&transport.Packet{Version: p.Version, TID: p.TID, Type: transport.TypeServerHello, ServerVersion: "fake"})
	}
}

func startFake(t testing.TB, handle func(fc *fakeConn, p *transport.Packet)) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if handle == nil {
		handle = (*fakeConn).answerHousekeeping
	}
	fs := &fakeServer{ln: ln, addr: ln.Addr().String(), handle: handle}
	fs.wg.Add(1)
	go fs.accept()
	t.Cleanup(fs.close)
	return fs
}

func (fs *fakeServer) accept() {
	defer fs.wg.Done()
	for {
		nc, err := fs.ln.Accept()
		if err != nil {
			return
		}
		fc := &fakeConn{nc: nc}
		fs.mu.Lock()
		fs.conns = append(fs.conns, fc)
		fs.accepted++
		fs.mu.Unlock()
		fs.wg.Add(1)
		go fs.serve(fc)
	}
}

func (fs *fakeServer) serve(fc *fakeConn) {
	defer fs.wg.Done()
	defer fc.nc.Close()
	dec := transport.NewDecoder(fc.nc, transport.Limits{})
	for {
		var p transport.Packet
		if err := dec.Decode(&p); err != nil {
			return // the client went away, or the test closed the server
		}
		fs.mu.Lock()
		fs.received = append(fs.received, p)
		fs.mu.Unlock()
		fs.handle(fc, &p)
	}
}

// packets returns the packets received so far that match keep.
func (fs *fakeServer) packets(keep func(p *transport.Packet) bool) []transport.Packet {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var out []transport.Packet
	for i := range fs.received {
		if keep(&fs.received[i]) {
			out = append(out, fs.received[i])
		}
	}
	return out
}

func ofType(t transport.PacketType) func(p *transport.Packet) bool {
	return func(p *transport.Packet) bool { return p.Type == t }
}

func (fs *fakeServer) acceptedConns() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.accepted
}

func (fs *fakeServer) close() {
	fs.ln.Close()
	fs.mu.Lock()
	for _, fc := range fs.conns {
		fc.nc.Close()
	}
	fs.mu.Unlock()
	fs.wg.Wait()
}
