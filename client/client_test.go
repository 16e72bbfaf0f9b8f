package client

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/transport"
)

var contentTypes = []transport.ContentType{transport.ContentJSON, transport.ContentMsgpack}

// pendingCalls returns the number of calls waiting on c's connection.
func pendingCalls(c *Client) int {
	cn := c.cur.Load()
	if cn == nil {
		return 0
	}
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return len(cn.pending)
}

func TestCall(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := startServer(t, testFuncs(), "")
	for _, ct := range contentTypes {
		for _, v := range []transport.Version{transport.V5, transport.V6} {
			t.Run(fmt.Sprintf("%v/v%d", ct, v), func(t *testing.T) {
				c := dial(t, s.addr, Config{ContentType: ct, Version: v})
				ctx := context.Background()

				if n := must(CallAs[int64](ctx, c, "m/add", 1, 2, 39))(t); n != 42 {
					t.Errorf("add = %d, want 42", n)
				}
				if n := must(CallAs[int](ctx, c, "m/add", int64(-5), uint8(2)))(t); n != -3 {
					t.Errorf("add = %d, want -3", n)
				}
				if n := must(CallAs[int](ctx, c, "m/nargs"))(t); n != 0 {
					t.Errorf("a call without arguments got %d", n)
				}

				arg := map[string]any{"a": []any{int64(1), "x", true, nil, 1.5}}
				res := must(c.Call(ctx, "m/echo", arg))(t)
				if res.ContentType() != ct {
					t.Errorf("content type %v, want %v", res.ContentType(), ct)
				}
				if got := must(res.Value())(t); !reflect.DeepEqual(got, arg) {
					t.Errorf("echo = %#v, want %#v", got, arg)
				}
				if got := must(CallAs[any](ctx, c, "m/echo", "hi"))(t); got != "hi" {
					t.Errorf("echo = %#v", got)
				}
				if ct == transport.ContentJSON {
					if raw := must(c.Call(ctx, "m/echo", "hi"))(t).Raw(); string(raw) != `"hi"` {
						t.Errorf("raw = %q", raw)
					}
				}

				var o struct {
					Name string `json:"name" msgpack:"name"`
					N    int    `json:"n" msgpack:"n"`
				}
				if err := must(c.Call(ctx, "m/obj"))(t).Decode(&o); err != nil || o.Name != "slacker" || o.N != 3 {
					t.Errorf("obj = %+v, %v", o, err)
				}
				if _, err := CallAs[int](ctx, c, "m/echo", "not a number"); err == nil {
					t.Error("decoding a string as int succeeded")
				}
			})
		}
	}
}

// TestDeadlineSent checks the deadline the server sees: ctx's, or
// Config.Timeout from now, in v6; none in v5.
func TestDeadlineSent(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := startServer(t, testFuncs(), "")
	for _, ct := range contentTypes {
		t.Run(ct.String(), func(t *testing.T) {
			c := dial(t, s.addr, Config{ContentType: ct, Timeout: 7 * time.Second})
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			want, _ := ctx.Deadline()
			if got := must(CallAs[int64](ctx, c, "m/deadline"))(t); got != want.UnixMilli() {
				t.Errorf("server deadline %d, want the ctx's %d", got, want.UnixMilli())
			}

			before := time.Now().Add(7 * time.Second).UnixMilli()
			got := must(CallAs[int64](context.Background(), c, "m/deadline"))(t)
			after := time.Now().Add(7 * time.Second).UnixMilli()
			if got < before || got > after {
				t.Errorf("server deadline %d, want Timeout from now: [%d, %d]", got, before, after)
			}
		})
	}
	c5 := dial(t, s.addr, Config{Version: transport.V5})
	if got := must(c5.Call(context.Background(), "m/deadline"))(t); string(got.Raw()) != "null" {
		t.Errorf("v5 call: the server saw deadline %s, want none", got.Raw())
	}
}

func TestRemoteErrors(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := startServer(t, testFuncs(), "")
	tests := []struct {
		name     string
		args     []any
		sentinel error
		code     transport.Code
		msg      string
	}{
		{"m/nope", nil, ErrNotFound, transport.CodeNotFound, ""},
		{"nope/add", nil, ErrNotFound, transport.CodeNotFound, ""},
		{"m/fail", nil, ErrException, transport.CodeException, "kaboom: the function failed"},
		{"m/add", []any{"x"}, ErrException, transport.CodeException, "add: string is not an integer"},
		{"m/full", nil, ErrThreadPoolFull, transport.CodeThreadPoolFull, ""},
		{"m/cancel", nil, ErrCanceled, transport.CodeCanceled, ""},
	}
	for _, ct := range contentTypes {
		c := dial(t, s.addr, Config{ContentType: ct})
		for _, tt := range tests {
			_, err := c.Call(context.Background(), tt.name, tt.args...)
			var re *RemoteError
			switch {
			case !errors.As(err, &re):
				t.Errorf("%v %s: got %v, want a *RemoteError", ct, tt.name, err)
			case re.Code != tt.code || re.Message != tt.msg:
				t.Errorf("%v %s: got %+v, want code %v, message %q", ct, tt.name, re, tt.code, tt.msg)
			case !errors.Is(err, tt.sentinel):
				t.Errorf("%v %s: %v is not %v", ct, tt.name, err, tt.sentinel)
			case errors.Is(err, context.DeadlineExceeded):
				t.Errorf("%v %s: %v is a deadline error", ct, tt.name, err)
			}
		}
	}
	// The client's sentinels are the transport's.
	_, err := dial(t, s.addr, Config{}).Call(context.Background(), "m/fail")
	if !errors.Is(err, transport.ErrException) || errors.Is(err, ErrNotFound) {
		t.Errorf("got %v", err)
	}
}

// TestDeadlineExceeded: a call that runs past its deadline fails with an
// error matching context.DeadlineExceeded, whether the client's timer or
// the server's "canceled" answer comes first.
func TestDeadlineExceeded(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := startServer(t, testFuncs(), "")
	for _, v := range []transport.Version{transport.V5, transport.V6} {
		c := dial(t, s.addr, Config{Version: v, Timeout: 20 * time.Millisecond})
		for i := range 5 {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			_, err := c.Call(ctx, "m/wait")
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("v%d, ctx deadline, try %d: got %v", v, i, err)
			}
			// Without a ctx deadline, Config.Timeout applies.
			if _, err := c.Call(context.Background(), "m/wait"); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("v%d, Timeout, try %d: got %v", v, i, err)
			}
		}
		testutil.WaitFor(t, 5*time.Second, func() bool { return s.srv.InFlight() == 0 }, "the server to stop the calls")
		if n := pendingCalls(c); n != 0 {
			t.Errorf("%d calls still pending", n)
		}
	}
}

// TestCancelInterruptsServer cancels a call and checks that the function's
// ctx on the server was cancelled by the interrupt, long before the call's
// deadline.
func TestCancelInterruptsServer(t *testing.T) {
	testutil.CheckGoroutines(t)
	started := make(chan struct{}, 1)
	stopped := make(chan error, 1)
	h := testFuncs()
	h["m/hold"] = func(ctx context.Context, _ []any) (any, error) {
		started <- struct{}{}
		<-ctx.Done()
		stopped <- ctx.Err()
		return nil, ctx.Err()
	}
	s := startServer(t, h, "")
	for _, async := range []bool{false, true} {
		c := dial(t, s.addr, Config{Timeout: time.Minute})
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		if async {
			p := c.Go(ctx, "m/hold")
			go func() { _, err := p.Result(); errc <- err }()
		} else {
			go func() { _, err := c.Call(ctx, "m/hold"); errc <- err }()
		}
		<-started
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("async %v: got %v, want context.Canceled", async, err)
		}
		select {
		case err := <-stopped:
			if err != context.Canceled {
				t.Errorf("async %v: the server's ctx ended with %v, want an interrupt", async, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("async %v: the server never stopped the call", async)
		}
		if n := pendingCalls(c); n != 0 {
			t.Errorf("%d calls still pending", n)
		}
		if n := must(CallAs[int](context.Background(), c, "m/add", 1, 1))(t); n != 2 {
			t.Errorf("add after interrupt = %d", n)
		}
	}
}

// echoAnswer answers a JSON or msgpack request with its first argument.
func echoAnswer(fc *fakeConn, p *transport.Packet) {
	codec, err := transport.CodecFor(transport.DefaultCodecs(), p.ContentType)
	if err != nil {
		panic(err)
	}
	var args []any
	if err := codec.Unmarshal(p.Body, &args); err != nil || len(args) == 0 {
		panic(fmt.Sprint("bad request body ", p.Body, err))
	}
	body, err := codec.Marshal(args[0])
	if err != nil {
		panic(err)
	}
	fc.send(&transport.Packet{
		Version: p.Version, TID: p.TID, Type: transport.TypeResponse,
		ContentType: p.ContentType, Code: transport.CodeSuccess, Body: body, Extensions: p.Extensions,
	})
}

// TestTimeoutSendsInterrupt checks on the wire that a call whose time ran
// out is interrupted, with tid 0 and the call's tid as target, and that a
// late answer is dropped.
func TestTimeoutSendsInterrupt(t *testing.T) {
	testutil.CheckGoroutines(t)
	fs := startFake(t, func(fc *fakeConn, p *transport.Packet) {
		fc.answerHousekeeping(p)
		if p.Type == transport.TypeRequest && p.Name == "m/echo" {
			echoAnswer(fc, p)
		}
	})
	c := dial(t, fs.addr, Config{Timeout: 50 * time.Millisecond})
	requests := func(name string) []transport.Packet {
		return fs.packets(func(p *transport.Packet) bool { return p.Type == transport.TypeRequest && p.Name == name })
	}
	interrupts := func() []transport.Packet { return fs.packets(ofType(transport.TypeInterrupt)) }

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := c.Call(ctx, "m/slow", 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want DeadlineExceeded", err)
	}
	testutil.WaitFor(t, 5*time.Second, func() bool { return len(interrupts()) == 1 }, "the interrupt")
	req, intr := requests("m/slow")[0], interrupts()[0]
	if intr.TID != 0 || intr.TargetTID != req.TID || intr.Version != transport.V6 || req.TID == 0 {
		t.Errorf("interrupt %+v for request tid %d", intr, req.TID)
	}
	deadline, _ := ctx.Deadline()
	if len(req.Extensions) != 1 || req.Extensions[0].ID != transport.DeadlineExtension ||
		string(req.Extensions[0].Value) != strconv.FormatInt(deadline.UnixMilli(), 10) {
		t.Errorf("extensions %+v, want the deadline %d", req.Extensions, deadline.UnixMilli())
	}

	// Config.Timeout, for a ctx without deadline.
	start := time.Now()
	if _, err := c.Call(context.Background(), "m/slow", 2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want DeadlineExceeded", err)
	} else if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("timed out after %v, before Timeout", d)
	}
	testutil.WaitFor(t, 5*time.Second, func() bool { return len(interrupts()) == 2 }, "the second interrupt")
	if req, intr := requests("m/slow")[1], interrupts()[1]; intr.TargetTID != req.TID {
		t.Errorf("interrupt targets %d, want %d", intr.TargetTID, req.TID)
	}

	// A late answer to the abandoned call is dropped; the connection goes on.
	fs.mu.Lock()
	fc := fs.conns[0]
	fs.mu.Unlock()
	fc.send(&transport.Packet{Version: transport.V6, TID: req.TID, Type: transport.TypeResponse,
		ContentType: transport.ContentJSON, Body: []byte(`"late"`)})
	if got := must(CallAs[string](context.Background(), c, "m/echo", "mine"))(t); got != "mine" {
		t.Errorf("echo = %q", got)
	}
	if n := pendingCalls(c); n != 0 {
		t.Errorf("%d calls still pending", n)
	}
}

// TestV5Wire checks that a v5 client sends no hello and no extensions.
func TestV5Wire(t *testing.T) {
	testutil.CheckGoroutines(t)
	fs := startFake(t, func(fc *fakeConn, p *transport.Packet) {
		fc.answerHousekeeping(p)
		if p.Type == transport.TypeRequest {
			echoAnswer(fc, p)
		}
	})
	c := dial(t, fs.addr, Config{Version: transport.V5, ContentType: transport.ContentMsgpack})
	if got := must(CallAs[string](context.Background(), c, "m/echo", "v5"))(t); got != "v5" {
		t.Errorf("echo = %q", got)
	}
	must(c.Ping(context.Background()))(t)
	for _, p := range fs.packets(func(*transport.Packet) bool { return true }) {
		if p.Version != transport.V5 || p.Type == transport.TypeClientHello || len(p.Extensions) > 0 {
			t.Errorf("v5 client sent %+v", p)
		}
	}
}

// TestOutOfOrder has the server answer a batch of calls in reverse order.
func TestOutOfOrder(t *testing.T) {
	testutil.CheckGoroutines(t)
	const n = 16
	var mu sync.Mutex
	var held []transport.Packet
	fs := startFake(t, func(fc *fakeConn, p *transport.Packet) {
		fc.answerHousekeeping(p)
		if p.Type != transport.TypeRequest {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		held = append(held, *p)
		if len(held) == n {
			for i := n - 1; i >= 0; i-- {
				echoAnswer(fc, &held[i])
			}
			held = nil
		}
	})
	for _, ct := range contentTypes {
		c := dial(t, fs.addr, Config{ContentType: ct})
		calls := make([]*Pending, n)
		for i := range calls {
			calls[i] = c.Go(context.Background(), "m/echo", fmt.Sprintf("call %d", i))
		}
		for i, p := range calls {
			res, err := p.Result()
			if err != nil {
				t.Fatalf("%v call %d: %v", ct, i, err)
			}
			var got string
			if err := res.Decode(&got); err != nil || got != fmt.Sprintf("call %d", i) {
				t.Errorf("%v call %d got %q, %v", ct, i, got, err)
			}
		}
	}
}

// TestConcurrentCallers runs 64 callers on one client, each checking that
// it gets its own answers.
func TestConcurrentCallers(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := startServer(t, testFuncs(), "")
	for _, ct := range contentTypes {
		c := dial(t, s.addr, Config{ContentType: ct})
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for g := range 64 {
			wg.Go(func() {
				for i := range 50 {
					want := fmt.Sprintf("caller %d call %d", g, i)
					got, err := CallAs[string](context.Background(), c, "m/echo", want)
					if err != nil || got != want {
						errs <- fmt.Errorf("%s: got %q, %v", want, got, err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("%v: %v", ct, err)
		}
	}
}

// TestConnLost kills the server under pending calls: they all fail at
// once with ErrConnLost, long before their timeout.
func TestConnLost(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := startServer(t, testFuncs(), "")
	c := dial(t, s.addr, Config{Timeout: time.Minute})
	const n = 20
	calls := make([]*Pending, n)
	for i := range calls {
		calls[i] = c.Go(context.Background(), "m/wait")
	}
	testutil.WaitFor(t, 5*time.Second, func() bool { return s.srv.InFlight() == n }, "the calls to run")

	start := time.Now()
	s.stop()
	for i, p := range calls {
		select {
		case <-p.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("call %d still pending", i)
		}
		if _, err := p.Result(); !errors.Is(err, ErrConnLost) || errors.Is(err, ErrNotSent) {
			t.Errorf("call %d, which ran: got %v, want ErrConnLost only", i, err)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the calls failed after %v", d)
	}
	// Calls fail at once while the client can't reconnect.
	testutil.WaitFor(t, 5*time.Second, func() bool {
		_, err := c.Call(context.Background(), "m/add")
		return errors.Is(err, ErrNotConnected)
	}, "ErrNotConnected")
	start = time.Now()
	if _, err := c.Call(context.Background(), "m/add"); !errors.Is(err, ErrNotConnected) || !errors.Is(err, ErrNotSent) || errors.Is(err, ErrConnLost) {
		t.Errorf("got %v, want ErrNotConnected, which is ErrNotSent", err)
	} else if d := time.Since(start); d > time.Second {
		t.Errorf("failing took %v", d)
	}
	if p := c.Go(context.Background(), "m/add"); !isDone(p) {
		t.Error("Go while not connected: not done at once")
	} else if _, err := p.Result(); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Go while not connected: %v", err)
	}
}

// TestConnLostBeforeWritten breaks the connection while a request is half
// written and another waits behind it: both fail with ErrNotSent as well
// as ErrConnLost, and the call the server had read with ErrConnLost only.
func TestConnLostBeforeWritten(t *testing.T) {
	testutil.CheckGoroutines(t)
	read := make(chan *fakeConn, 1)
	release := make(chan struct{})
	fs := startFake(t, func(fc *fakeConn, p *transport.Packet) {
		if p.Type == transport.TypeRequest {
			read <- fc
			<-release // reads no more
		}
	})
	defer close(release)
	c := dial(t, fs.addr, Config{Timeout: time.Minute})
	first := c.Go(context.Background(), "m/first")
	fc := <-read

	// More than the socket buffers of both ends hold: the write stays
	// half done while the server reads nothing.
	big := c.Go(context.Background(), "m/big", strings.Repeat("x", 64<<20))
	cn := c.cur.Load()
	testutil.WaitFor(t, 5*time.Second, func() bool {
		cn.mu.Lock()
		defer cn.mu.Unlock()
		return cn.flushed >= big.end
	}, "the writer to take the big request")
	behind := c.Go(context.Background(), "m/behind")
	fc.nc.Close()

	for _, tc := range []struct {
		name   string
		p      *Pending
		unsent bool
	}{{"first", first, false}, {"big", big, true}, {"behind", behind, true}} {
		_, err := tc.p.Result()
		if !errors.Is(err, ErrConnLost) || errors.Is(err, ErrNotSent) != tc.unsent {
			t.Errorf("%s: got %v, want ErrConnLost, ErrNotSent %v", tc.name, err, tc.unsent)
		}
	}
}

func isDone(p *Pending) bool {
	select {
	case <-p.Done():
		return true
	default:
		return false
	}
}

// TestReconnect restarts the server on the same address: the client comes
// back by itself.
func TestReconnect(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := startServer(t, testFuncs(), "")
	c := dial(t, s.addr, Config{ClientName: "reconnecting"})
	ctx := context.Background()
	must(CallAs[int](ctx, c, "m/add", 1, 2))(t)

	for round := range 2 {
		s.stop()
		testutil.WaitFor(t, 5*time.Second, func() bool {
			_, err := c.Call(ctx, "m/add")
			return errors.Is(err, ErrNotConnected)
		}, "the client to see the server gone")
		s = startServer(t, testFuncs(), s.addr)
		testutil.WaitFor(t, 5*time.Second, func() bool {
			n, err := CallAs[int](ctx, c, "m/add", round, 1)
			return err == nil && n == round+1
		}, "calls to work again")
		// The new connection said hello again.
		testutil.WaitFor(t, 5*time.Second, func() bool {
			cl := s.srv.Clients()
			return len(cl) == 1 && cl[0].Name == "reconnecting" && cl[0].Version == clientVersion
		}, "the client-hello")
	}
}

// TestMaxPending checks that calls past MaxPending fail at once.
func TestMaxPending(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := startServer(t, testFuncs(), "")
	c := dial(t, s.addr, Config{MaxPending: 3})
	ctx, cancel := context.WithCancel(context.Background())
	calls := make([]*Pending, 3)
	for i := range calls {
		calls[i] = c.Go(ctx, "m/wait")
	}
	testutil.WaitFor(t, 5*time.Second, func() bool { return s.srv.InFlight() == 3 }, "the calls to run")
	if _, err := c.Call(context.Background(), "m/add"); !errors.Is(err, ErrTooManyPending) {
		t.Errorf("call past MaxPending: %v", err)
	}
	if _, err := c.Ping(context.Background()); !errors.Is(err, ErrTooManyPending) {
		t.Errorf("ping past MaxPending: %v", err)
	}
	cancel()
	for _, p := range calls {
		if _, err := p.Result(); !errors.Is(err, context.Canceled) {
			t.Errorf("got %v", err)
		}
	}
	must(CallAs[int](context.Background(), c, "m/add", 1))(t)
}

func TestClose(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := startServer(t, testFuncs(), "")
	c := dial(t, s.addr, Config{})
	p := c.Go(context.Background(), "m/wait")
	testutil.WaitFor(t, 5*time.Second, func() bool { return s.srv.InFlight() == 1 }, "the call to run")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if !isDone(p) {
		t.Fatal("a pending call outlived Close")
	}
	if _, err := p.Result(); !errors.Is(err, ErrClosed) {
		t.Errorf("pending call: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	ctx := context.Background()
	if _, err := c.Call(ctx, "m/add"); !errors.Is(err, ErrClosed) {
		t.Errorf("Call after Close: %v", err)
	}
	if _, err := c.Go(ctx, "m/add").Result(); !errors.Is(err, ErrClosed) {
		t.Errorf("Go after Close: %v", err)
	}
	if _, err := c.Functions(ctx, ""); !errors.Is(err, ErrClosed) {
		t.Errorf("Functions after Close: %v", err)
	}
	if _, err := c.Ping(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Ping after Close: %v", err)
	}
	// The server sees the connection go and cancels the call.
	testutil.WaitFor(t, 5*time.Second, func() bool { return s.srv.InFlight() == 0 }, "the server to cancel the call")
}

// TestCloseWhileReconnecting closes a client that is waiting to reconnect.
func TestCloseWhileReconnecting(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := startServer(t, testFuncs(), "")
	c := dial(t, s.addr, Config{Reconnect: Backoff{Min: time.Hour}})
	s.stop()
	testutil.WaitFor(t, 5*time.Second, func() bool { return c.cur.Load() == nil }, "the connection loss")
	start := time.Now()
	c.Close()
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %v", d)
	}
}

func TestInspect(t *testing.T) {
	testutil.CheckGoroutines(t)
	h := testFuncs()
	h["other/f"] = h["m/add"]
	s := startServer(t, h, "")
	c := dial(t, s.addr, Config{})
	ctx := context.Background()

	all := must(c.Functions(ctx, ""))(t)
	if want := h.Functions(""); !reflect.DeepEqual(all, want) {
		t.Errorf("functions = %v, want %v", all, want)
	}
	if got := must(c.Functions(ctx, "other/"))(t); !reflect.DeepEqual(got, []string{"other/f"}) {
		t.Errorf("functions of other = %v", got)
	}
	if got := must(c.Functions(ctx, "zzz"))(t); len(got) != 0 {
		t.Errorf("functions of zzz = %v", got)
	}

	m := must(c.Meta(ctx, "m/add"))(t)
	want := transport.FuncMeta{Name: "m/add", Doc: "The doc of m/add.", Params: []string{"a", "..."}}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("meta = %+v, want %+v", m, want)
	}
	if _, err := c.Meta(ctx, "m/nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("meta of a missing function: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Meta(cctx, "m/add"); !errors.Is(err, context.Canceled) {
		t.Errorf("meta with a cancelled ctx: %v", err)
	}
}

func TestPing(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := startServer(t, testFuncs(), "")
	for _, v := range []transport.Version{transport.V5, transport.V6} {
		c := dial(t, s.addr, Config{Version: v})
		if rtt := must(c.Ping(context.Background()))(t); rtt <= 0 {
			t.Errorf("v%d: rtt %v", v, rtt)
		}
	}
}

func TestGo(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := startServer(t, testFuncs(), "")
	c := dial(t, s.addr, Config{Timeout: 30 * time.Millisecond})
	ctx := context.Background()

	p := c.Go(ctx, "m/add", 40, 2)
	<-p.Done()
	res, err := p.Result()
	if n, _ := res.Value(); err != nil || n != int64(42) {
		t.Errorf("add = %v, %v", n, err)
	}
	// Config.Timeout ends an async call too.
	if _, err := c.Go(ctx, "m/wait").Result(); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want DeadlineExceeded", err)
	}
	// So does ctx's deadline.
	dctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := c.Go(dctx, "m/wait").Result(); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want DeadlineExceeded", err)
	}
	// A done ctx: the call is not sent.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if p := c.Go(cctx, "m/add"); !isDone(p) {
		t.Error("Go with a cancelled ctx is not done")
	} else if _, err := p.Result(); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v", err)
	}
	testutil.WaitFor(t, 5*time.Second, func() bool { return s.srv.InFlight() == 0 && pendingCalls(c) == 0 }, "no calls left")
}

// TestKeepalive checks that an idle client pings, and that a server that
// stops answering is dropped and reconnected to.
func TestKeepalive(t *testing.T) {
	testutil.CheckGoroutines(t)
	t.Run("answered", func(t *testing.T) {
		fs := startFake(t, nil)
		dial(t, fs.addr, Config{PingInterval: 5 * time.Millisecond})
		testutil.WaitFor(t, 5*time.Second, func() bool { return len(fs.packets(ofType(transport.TypePing))) >= 5 }, "pings")
		for _, p := range fs.packets(ofType(transport.TypePing)) {
			if p.TID != 0 {
				t.Errorf("keepalive ping with tid %d", p.TID)
			}
		}
		if n := fs.acceptedConns(); n != 1 {
			t.Errorf("%d connections; answered pings should keep the first", n)
		}
	})
	t.Run("silent", func(t *testing.T) {
		fs := startFake(t, func(*fakeConn, *transport.Packet) {})
		c := dial(t, fs.addr, Config{PingInterval: 10 * time.Millisecond, Timeout: time.Minute})
		start := time.Now()
		_, err := c.Go(context.Background(), "m/never").Result()
		if !errors.Is(err, ErrConnLost) || !errors.Is(err, errKeepalive) {
			t.Errorf("got %v, want a keepalive ErrConnLost", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("dropped after %v", d)
		}
		testutil.WaitFor(t, 5*time.Second, func() bool { return fs.acceptedConns() >= 2 }, "a new connection")
	})
}

// TestUnexpectedReply has the server answer a call with a pong.
func TestUnexpectedReply(t *testing.T) {
	testutil.CheckGoroutines(t)
	fs := startFake(t, func(fc *fakeConn, p *transport.Packet) {
		fc.answerHousekeeping(p)
		if p.Type == transport.TypeRequest {
			fc.send(&transport.Packet{Version: p.Version, TID: p.TID, Type: transport.TypePong})
		}
	})
	c := dial(t, fs.addr, Config{})
	if _, err := c.Call(context.Background(), "m/f"); !errors.Is(err, ErrUnexpectedReply) {
		t.Errorf("got %v", err)
	}
}

func TestDial(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := startServer(t, testFuncs(), "")
	bad := []Config{
		{Version: 4},
		{Timeout: -1},
		{MaxPending: -1},
		{PingInterval: -1},
		{DialTimeout: -1},
		{Reconnect: Backoff{Min: -1}},
		{Reconnect: Backoff{Min: time.Second, Max: time.Millisecond}},
		{ContentType: 4},
		{Codecs: []transport.Codec{nil}},
		{ContentType: transport.ContentMsgpack, Codecs: []transport.Codec{transport.JSON}},
	}
	for _, cfg := range bad {
		if c, err := Dial(context.Background(), s.addr, cfg); err == nil {
			c.Close()
			t.Errorf("Dial accepted %+v", cfg)
		}
	}
	// Nothing listening.
	ln := startFake(t, nil)
	addr := ln.addr
	ln.close()
	if _, err := Dial(context.Background(), addr, Config{}); err == nil {
		t.Error("Dial to a closed port succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Dial(ctx, s.addr, Config{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Dial with a cancelled ctx: %v", err)
	}
	c := dial(t, s.addr, Config{})
	if c.Addr() != s.addr {
		t.Errorf("Addr() = %q, want %q", c.Addr(), s.addr)
	}
}

func TestResult(t *testing.T) {
	var zero Result
	if _, err := zero.Value(); err == nil {
		t.Error("the zero Result decoded")
	}
	if zero.ContentType() != 0 || zero.Raw() != nil {
		t.Error("the zero Result has content")
	}
	empty := Result{codec: transport.JSON}
	if v, err := empty.Value(); v != nil || err != nil {
		t.Errorf("empty body: %v, %v", v, err)
	}
	r := NewResult([]byte(`[1,"two"]`), transport.JSON)
	if v, err := r.Value(); err != nil || !reflect.DeepEqual(v, []any{int64(1), "two"}) || r.ContentType() != transport.ContentJSON {
		t.Errorf("NewResult: %#v, %v, %v", v, err, r.ContentType())
	}
}

func TestExceptionMessage(t *testing.T) {
	tests := []struct {
		codec transport.Codec
		body  string
		want  string
	}{
		{transport.JSON, `"boom"`, "boom"},
		{transport.JSON, `{"msg":"boom","stacktrace":[]}`, "boom"},
		{transport.JSON, `{"other":1}`, `{"other":1}`},
		{transport.JSON, `not json`, "not json"},
		{transport.Msgpack, "\xa4boom", "boom"},
	}
	for _, tt := range tests {
		if got := exceptionMessage(tt.codec, []byte(tt.body)); got != tt.want {
			t.Errorf("%v %q: got %q, want %q", tt.codec.ContentType(), tt.body, got, tt.want)
		}
	}
}

func TestJitter(t *testing.T) {
	for _, d := range []time.Duration{0, 1, 3, time.Millisecond, 5 * time.Second} {
		for range 100 {
			if j := jitter(d); j < d/2 || j > d {
				t.Fatalf("jitter(%v) = %v", d, j)
			}
		}
	}
}

// TestAbandonByTID checks that abandon leaves alone a call pending under
// another tid than the one given: expireLoop abandons calls by the tid
// they had, and a call answered meanwhile may be pending again, reused,
// under a new one.
func TestAbandonByTID(t *testing.T) {
	testutil.CheckGoroutines(t)
	fs := startFake(t, func(fc *fakeConn, p *transport.Packet) { fc.answerHousekeeping(p) })
	c := dial(t, fs.addr, Config{})
	p := c.Go(context.Background(), "m/never")
	cn := c.cur.Load()
	stale := errors.New("stale")
	cn.abandon(p, p.tid+1, stale)
	if isDone(p) {
		t.Fatal("abandoned under another tid")
	}
	cn.abandon(p, p.tid, stale)
	if _, err := p.Result(); err != stale {
		t.Fatalf("abandoned under its tid: %v, want %v", err, stale)
	}
}
