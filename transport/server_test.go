package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/tracectx"
)

// testHandler serves a few Go functions under the namespace "t", those of
// transporttest.Handler, which the tests of package transport can't
// import (it imports transport); tests of the exported API only belong in
// package transport_test, with transporttest.
type testHandler struct {
	started chan string // receives the name of every call that starts, if set
	release chan struct{}
	calls   atomic.Int64
}

func (h *testHandler) Call(ctx context.Context, name string, args []any) (any, error) {
	h.calls.Add(1)
	if h.started != nil {
		h.started <- name
	}
	switch name {
	case "t/add":
		var sum int64
		for _, a := range args {
			n, ok := a.(int64)
			if !ok {
				return nil, fmt.Errorf("add: %T is not an integer", a)
			}
			sum += n
		}
		return sum, nil
	case "t/echo":
		if len(args) == 0 {
			return nil, nil
		}
		return args[0], nil
	case "t/trace": // the trace context of the call: traceparent and tracestate
		tc := tracectx.From(ctx)
		return []any{tc.Parent, tc.State}, nil
	case "t/block": // until ctx ends
		<-ctx.Done()
		return nil, ctx.Err()
	case "t/wait": // until released
		select {
		case <-h.release:
			return "released", nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	case "t/stubborn": // ignores ctx
		<-h.release
		return "released", nil
	case "t/spin": // busy for 5µs, well within inlineMax
		for start := time.Now(); time.Since(start) < 5*time.Microsecond; {
		}
		return nil, nil
	case "t/big": // half a megabyte
		return strings.Repeat("x", 512<<10), nil
	case "t/fail":
		return nil, errors.New("kaboom")
	case "t/panic":
		panic("handler bug")
	case "t/busy":
		return nil, fmt.Errorf("t: %w", ErrThreadPoolFull)
	case "t/unencodable":
		return []any{1, struct{ C chan int }{}}, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
}

func (h *testHandler) Functions(prefix string) []string {
	var out []string
	for _, n := range []string{"t/add", "t/echo", "t/fail"} {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return out
}

func (h *testHandler) Meta(name string) (FuncMeta, bool) {
	if name == "t/add" {
		return FuncMeta{Name: "t/add", Doc: "Adds numbers.", Params: []string{"a", "b"}}, true
	}
	return FuncMeta{}, false
}

func startServer(t *testing.T, h Handler, cfg ServerConfig) (*Server, string) {
	t.Helper()
	srv, err := NewServer(h, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return srv, ln.Addr().String()
}

// rawConn speaks packets to a server with no client logic in between.
type rawConn struct {
	t   *testing.T
	nc  net.Conn
	dec *Decoder
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc, dec: NewDecoder(nc, Limits{})}
}

func (r *rawConn) write(b []byte) {
	r.t.Helper()
	if _, err := r.nc.Write(b); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawConn) send(p *Packet) {
	r.t.Helper()
	b, err := AppendPacket(nil, p)
	if err != nil {
		r.t.Fatal(err)
	}
	r.write(b)
}

func (r *rawConn) recv() *Packet {
	r.t.Helper()
	r.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var p Packet
	if err := r.dec.Decode(&p); err != nil {
		r.t.Fatalf("reading a packet: %v", err)
	}
	return &p
}

// expectClosed checks that the server closes the connection.
func (r *rawConn) expectClosed() {
	r.t.Helper()
	r.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var p Packet
	err := r.dec.Decode(&p)
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !isConnReset(err) {
		r.t.Fatalf("want the connection closed, got packet %+v, err %v", p, err)
	}
}

func isConnReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && !ne.Timeout()
}

func request(v Version, tid int32, ct ContentType, name, body string, exts ...Extension) *Packet {
	return &Packet{Version: v, TID: tid, Type: TypeRequest, ContentType: ct, Name: name, Body: []byte(body), Extensions: exts}
}

// callOK makes a call on r and checks its answer.
func (r *rawConn) callOK(tid int32) {
	r.t.Helper()
	r.send(request(V6, tid, ContentJSON, "t/add", "[1,2]"))
	p := r.recv()
	if p.Type != TypeResponse || p.TID != tid || p.Code != CodeSuccess || string(p.Body) != "3" {
		r.t.Fatalf("t/add: got %+v, body %q", p, p.Body)
	}
}

func TestServerCalls(t *testing.T) {
	testutil.CheckGoroutines(t)
	_, addr := startServer(t, &testHandler{}, ServerConfig{})
	r := dialRaw(t, addr)

	deadline := Extension{ID: DeadlineExtension, Value: fmt.Appendf(nil, "%d", time.Now().Add(time.Minute).UnixMilli())}
	other := Extension{ID: 7, Value: []byte(`"x"`)}
	tests := []struct {
		name string
		req  *Packet
		want Packet
	}{
		{"v6 json", request(V6, 1, ContentJSON, "t/add", "[1,2]", deadline, other),
			Packet{Version: V6, TID: 1, Type: TypeResponse, ContentType: ContentJSON, Body: []byte("3"), Extensions: []Extension{deadline, other}}},
		{"v5 json", request(V5, 2, ContentJSON, "t/echo", `["hello"]`),
			Packet{Version: V5, TID: 2, Type: TypeResponse, ContentType: ContentJSON, Body: []byte(`"hello"`)}},
		{"msgpack", request(V6, 3, ContentMsgpack, "t/add", "\x92\x01\x02"),
			Packet{Version: V6, TID: 3, Type: TypeResponse, ContentType: ContentMsgpack, Body: []byte{3}}},
		{"no body", request(V6, 4, ContentJSON, "t/echo", ""),
			Packet{Version: V6, TID: 4, Type: TypeResponse, ContentType: ContentJSON, Body: []byte("null")}},
		{"exception", request(V6, 5, ContentJSON, "t/fail", "[]"),
			Packet{Version: V6, TID: 5, Type: TypeResponse, ContentType: ContentJSON, Code: CodeException, Body: []byte(`"kaboom"`)}},
		{"panic", request(V6, 6, ContentJSON, "t/panic", "[]"),
			Packet{Version: V6, TID: 6, Type: TypeResponse, ContentType: ContentJSON, Code: CodeException, Body: []byte(`"internal error: handler bug"`)}},
		{"not found", request(V6, 7, ContentJSON, "t/nope", "[]"),
			Packet{Version: V6, TID: 7, Type: TypeError, Code: CodeNotFound}},
		{"thread pool full", request(V6, 8, ContentJSON, "t/busy", "[]"),
			Packet{Version: V6, TID: 8, Type: TypeError, Code: CodeThreadPoolFull}},
		{"expired deadline", request(V6, 9, ContentJSON, "t/add", "[1,2]", Extension{ID: DeadlineExtension, Value: []byte("1000")}),
			Packet{Version: V6, TID: 9, Type: TypeError, Code: CodeCanceled}},
		{"result not encodable", request(V6, 10, ContentJSON, "t/unencodable", "[]"),
			Packet{Version: V6, TID: 10, Type: TypeResponse, ContentType: ContentJSON, Code: CodeException}},
		{"ping", &Packet{Version: V6, TID: 11, Type: TypePing}, Packet{Version: V6, TID: 11, Type: TypePong}},
		{"v5 ping", &Packet{Version: V5, TID: 12, Type: TypePing}, Packet{Version: V5, TID: 12, Type: TypePong}},
		{"hello", &Packet{Version: V6, TID: 13, Type: TypeClientHello, ClientVersion: "0.17.0", ClientName: "test"},
			Packet{Version: V6, TID: 13, Type: TypeServerHello, ServerVersion: "slacker-lua/" + ServerVersion}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.t = t
			r.send(tt.req)
			got := r.recv()
			if tt.name == "result not encodable" {
				if got.Code != CodeException || !strings.Contains(string(got.Body), "cannot encode result") {
					t.Fatalf("got %+v body %q", got, got.Body)
				}
				return
			}
			if got.Version != tt.want.Version || got.TID != tt.want.TID || got.Type != tt.want.Type ||
				got.ContentType != tt.want.ContentType || got.Code != tt.want.Code ||
				string(got.Body) != string(tt.want.Body) || got.ServerVersion != tt.want.ServerVersion ||
				!slices.EqualFunc(got.Extensions, tt.want.Extensions, func(a, b Extension) bool { return a.ID == b.ID && string(a.Value) == string(b.Value) }) {
				t.Fatalf("got  %+v body %q\nwant %+v body %q", got, got.Body, tt.want, tt.want.Body)
			}
		})
	}
}

// TestServerBadInput sends each kind of bad input and checks the answer, the
// fate of the connection, and that other calls are unaffected.
func TestServerBadInput(t *testing.T) {
	testutil.CheckGoroutines(t)
	_, addr := startServer(t, &testHandler{}, ServerConfig{
		FrameTimeout: 200 * time.Millisecond,
		Limits:       Limits{MaxNameSize: 64, MaxBodySize: 1024, MaxExtensions: 2},
	})
	bystander := dialRaw(t, addr)

	header := func(v Version, tid int32, typ PacketType) []byte {
		return []byte{byte(v), byte(tid >> 24), byte(tid >> 16), byte(tid >> 8), byte(tid), byte(typ)}
	}
	ext := Extension{ID: 1, Value: []byte("1")}
	tests := []struct {
		name   string
		send   func(r *rawConn)
		want   *Packet // nil: no answer
		closed bool
	}{
		{"unknown version", func(r *rawConn) { r.write([]byte{7, 0, 0, 0, 1, 0}) },
			&Packet{Version: V6, TID: 0, Type: TypeError, Code: CodeProtocolMismatch}, true},
		{"unknown packet type", func(r *rawConn) { r.write(header(V6, 21, 12)) },
			&Packet{Version: V6, TID: 21, Type: TypeError, Code: CodeInvalidPacket}, true},
		{"hello in v5", func(r *rawConn) { r.write(append(header(V5, 22, TypeClientHello), 0, 0, 0, 0)) },
			&Packet{Version: V5, TID: 22, Type: TypeError, Code: CodeInvalidPacket}, true},
		{"name over limit", func(r *rawConn) { r.send(request(V6, 23, ContentJSON, strings.Repeat("n", 65), "[]")) },
			&Packet{Version: V6, TID: 23, Type: TypeError, Code: CodeInvalidPacket}, true},
		{"body over limit", func(r *rawConn) {
			// The frame claims 4 GiB; the server must answer without
			// waiting for it.
			b := append(header(V6, 24, TypeRequest), byte(ContentJSON), 0, 5)
			b = append(b, "t/add"...)
			r.write(append(b, 0xff, 0xff, 0xff, 0xff))
		}, &Packet{Version: V6, TID: 24, Type: TypeError, Code: CodeInvalidPacket}, true},
		{"too many extensions", func(r *rawConn) { r.send(request(V6, 25, ContentJSON, "t/add", "[]", ext, ext, ext)) },
			&Packet{Version: V6, TID: 25, Type: TypeError, Code: CodeInvalidPacket}, true},
		{"truncated frame", func(r *rawConn) { r.write(append(header(V6, 26, TypeRequest), byte(ContentJSON), 0, 5, 't')) },
			nil, true},
		{"unknown content type", func(r *rawConn) { r.send(request(V6, 27, 3, "t/add", "[1,2]")) },
			&Packet{Version: V6, TID: 27, Type: TypeError, Code: CodeInvalidPacket}, false},
		{"undecodable body", func(r *rawConn) { r.send(request(V6, 28, ContentJSON, "t/add", "[1,")) },
			&Packet{Version: V6, TID: 28, Type: TypeError, Code: CodeInvalidPacket}, false},
		{"body not an array", func(r *rawConn) { r.send(request(V6, 29, ContentJSON, "t/add", `{"a":1}`)) },
			&Packet{Version: V6, TID: 29, Type: TypeError, Code: CodeInvalidPacket}, false},
		{"bad deadline", func(r *rawConn) {
			r.send(request(V6, 30, ContentJSON, "t/add", "[]", Extension{ID: DeadlineExtension, Value: []byte(`"soon"`)}))
		}, &Packet{Version: V6, TID: 30, Type: TypeError, Code: CodeInvalidPacket}, false},
		{"packet only servers send", func(r *rawConn) { r.send(&Packet{Version: V6, TID: 31, Type: TypeResponse, ContentType: ContentJSON}) },
			&Packet{Version: V6, TID: 31, Type: TypeError, Code: CodeInvalidPacket}, false},
		{"unknown inspect command", func(r *rawConn) { r.send(&Packet{Version: V6, TID: 33, Type: TypeInspectReq, Command: 9}) },
			&Packet{Version: V6, TID: 33, Type: TypeError, Code: CodeInvalidPacket}, false},
		{"bad inspect argument", func(r *rawConn) {
			r.send(&Packet{Version: V6, TID: 34, Type: TypeInspectReq, Body: []byte(`"unterminated`)})
		},
			&Packet{Version: V6, TID: 34, Type: TypeError, Code: CodeInvalidPacket}, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := dialRaw(t, addr)
			tt.send(r)
			if tt.want != nil {
				got := r.recv()
				if got.Version != tt.want.Version || got.TID != tt.want.TID || got.Type != tt.want.Type || got.Code != tt.want.Code {
					t.Fatalf("got %+v, want %+v", got, tt.want)
				}
			}
			if tt.closed {
				r.expectClosed()
			} else {
				r.callOK(100) // the same connection still works
			}
			bystander.t = t
			bystander.callOK(int32(1000 + i)) // and so do the others
		})
	}
}

func TestServerDuplicateTID(t *testing.T) {
	h := &testHandler{release: make(chan struct{})}
	_, addr := startServer(t, h, ServerConfig{})
	r := dialRaw(t, addr)
	r.send(request(V6, 1, ContentJSON, "t/wait", "[]"))
	testutil.WaitFor(t, 5*time.Second, func() bool { return h.calls.Load() == 1 }, "call did not start")
	r.send(request(V6, 1, ContentJSON, "t/add", "[1,2]"))
	if p := r.recv(); p.Type != TypeError || p.Code != CodeInvalidPacket || p.TID != 1 {
		t.Fatalf("duplicate tid: got %+v", p)
	}
	close(h.release)
	if p := r.recv(); p.Type != TypeResponse || string(p.Body) != `"released"` {
		t.Fatalf("first call: got %+v", p)
	}
}

func TestServerInterruptAndDeadline(t *testing.T) {
	testutil.CheckGoroutines(t)
	_, addr := startServer(t, &testHandler{}, ServerConfig{})
	r := dialRaw(t, addr)

	r.send(request(V6, 1, ContentJSON, "t/block", "[]"))
	r.send(&Packet{Version: V6, TID: 0, Type: TypeInterrupt, TargetTID: 1})
	if p := r.recv(); p.Type != TypeError || p.TID != 1 || p.Code != CodeCanceled {
		t.Fatalf("interrupt: got %+v", p)
	}

	soon := fmt.Appendf(nil, "%d", time.Now().Add(100*time.Millisecond).UnixMilli())
	start := time.Now()
	r.send(request(V6, 2, ContentJSON, "t/block", "[]", Extension{ID: DeadlineExtension, Value: soon}))
	if p := r.recv(); p.Type != TypeError || p.TID != 2 || p.Code != CodeCanceled {
		t.Fatalf("deadline: got %+v", p)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("deadline honoured after %v", d)
	}
	// An interrupt for a call that doesn't exist is ignored.
	r.send(&Packet{Version: V6, Type: TypeInterrupt, TargetTID: 99})
	r.callOK(3)
}

// TestServerTraceContext checks that a request's trace context
// extensions reach the call's context, that invalid ones are ignored,
// and that unknown extensions, and v5 requests, are served as ever, the
// extensions echoed.
func TestServerTraceContext(t *testing.T) {
	_, addr := startServer(t, &testHandler{}, ServerConfig{})
	r := dialRaw(t, addr)
	parent := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for i, tc := range []struct {
		ct   ContentType
		exts []Extension
		want string
	}{
		{ContentJSON, []Extension{{ID: TraceParentExtension, Value: []byte(`"` + parent + `"`)}, {ID: TraceStateExtension, Value: []byte(`"k=v"`)}}, `["` + parent + `","k=v"]`},
		{ContentJSON, []Extension{{ID: TraceParentExtension, Value: []byte(`"00-bad"`)}, {ID: TraceStateExtension, Value: []byte(`"k=v"`)}}, `["",""]`},
		{ContentJSON, []Extension{{ID: TraceParentExtension, Value: []byte(`42`)}}, `["",""]`},
		{ContentJSON, []Extension{{ID: 77, Value: []byte(`{"what":"ever"}`)}, {ID: -99, Value: []byte(`not even JSON`)}}, `["",""]`},
		{ContentEDN, []Extension{{ID: TraceParentExtension, Value: []byte(`"` + parent + `"`)}}, `["` + parent + `" ""]`},
	} {
		tid := int32(10 + i)
		args := "[]"
		r.send(request(V6, tid, tc.ct, "t/trace", args, tc.exts...))
		p := r.recv()
		if p.Type != TypeResponse || p.TID != tid || p.Code != CodeSuccess || string(p.Body) != tc.want {
			t.Errorf("%d: got %+v (%s), want %s", i, p, p.Body, tc.want)
			continue
		}
		if len(p.Extensions) != len(tc.exts) {
			t.Errorf("%d: %d extensions echoed, want %d", i, len(p.Extensions), len(tc.exts))
		}
	}
	// A v5 request has none: it is served.
	r.send(request(V5, 20, ContentJSON, "t/trace", "[]"))
	if p := r.recv(); p.Type != TypeResponse || p.Code != CodeSuccess || string(p.Body) != `["",""]` {
		t.Errorf("v5: got %+v (%s)", p, p.Body)
	}
}

func TestServerInspect(t *testing.T) {
	_, addr := startServer(t, &testHandler{}, ServerConfig{})
	r := dialRaw(t, addr)
	r.send(&Packet{Version: V6, TID: 1, Type: TypeClientHello, ClientVersion: "0.17.0", ClientName: "inspector"})
	r.recv()

	tests := []struct {
		cmd  InspectCommand
		arg  string
		want string
	}{
		{InspectFunctions, `"t/a"`, `["t/add"]`},
		{InspectFunctions, `nil`, `["t/add" "t/echo" "t/fail"]`},
		{InspectFunctions, ``, `["t/add" "t/echo" "t/fail"]`},
		{InspectFunctions, `"zzz"`, `[]`},
		{InspectMeta, `"t/nope"`, `nil`},
	}
	for i, tt := range tests {
		r.send(&Packet{Version: V6, TID: int32(10 + i), Type: TypeInspectReq, Command: tt.cmd, Body: []byte(tt.arg)})
		p := r.recv()
		if p.Type != TypeInspectAck || p.TID != int32(10+i) {
			t.Fatalf("inspect %d %s: got %+v", tt.cmd, tt.arg, p)
		}
		got, err := ParseEDN(p.Body)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := ParseEDN([]byte(tt.want))
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("inspect %d %s: got %s, want %s", tt.cmd, tt.arg, p.Body, tt.want)
		}
	}

	r.send(&Packet{Version: V6, TID: 20, Type: TypeInspectReq, Command: InspectMeta, Body: []byte(`"t/add"`)})
	v, err := ParseEDN(r.recv().Body)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseMetaEDN(v)
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "add" || m.Doc != "Adds numbers." || !slices.Equal(m.Params, []string{"a", "b"}) {
		t.Errorf("meta: got %+v", m)
	}

	r.send(&Packet{Version: V6, TID: 21, Type: TypeInspectReq, Command: InspectClients})
	if body := string(r.recv().Body); !strings.Contains(body, `"inspector"`) || !strings.Contains(body, `"0.17.0"`) {
		t.Errorf("clients: got %s", body)
	}
}

// TestServerConcurrentCalls runs many calls on one connection at once and
// checks each gets its own answer, out of order.
func TestServerConcurrentCalls(t *testing.T) {
	testutil.CheckGoroutines(t)
	h := &testHandler{release: make(chan struct{})}
	_, addr := startServer(t, h, ServerConfig{})
	r := dialRaw(t, addr)
	const n = 200
	// The first call waits until all others have been answered.
	r.send(request(V6, 0, ContentJSON, "t/wait", "[]"))
	var batch []byte
	for i := 1; i <= n; i++ {
		var err error
		batch, err = AppendPacket(batch, request(V6, int32(i), ContentJSON, "t/echo", fmt.Sprintf("[%d]", i)))
		if err != nil {
			t.Fatal(err)
		}
	}
	r.write(batch)
	seen := make(map[int32]bool)
	for range n {
		p := r.recv()
		if string(p.Body) != fmt.Sprint(p.TID) || seen[p.TID] {
			t.Fatalf("tid %d answered %q (seen before: %v)", p.TID, p.Body, seen[p.TID])
		}
		seen[p.TID] = true
	}
	close(h.release)
	if p := r.recv(); p.TID != 0 || string(p.Body) != `"released"` {
		t.Fatalf("got %+v", p)
	}
}

// TestServerCoalescesWrites checks that responses finishing together leave
// in far fewer writes than responses.
func TestServerCoalescesWrites(t *testing.T) {
	h := &testHandler{release: make(chan struct{})}
	_, ln := startCounting(t, h)
	r := dialRaw(t, ln.Addr().String())
	const n = 500
	var batch []byte
	for i := range n {
		batch, _ = AppendPacket(batch, request(V6, int32(i), ContentJSON, "t/wait", "[]"))
	}
	r.write(batch)
	testutil.WaitFor(t, 5*time.Second, func() bool { return h.calls.Load() == n }, "calls did not start")
	close(h.release)
	for range n {
		r.recv()
	}
	// How many leave in one write depends on how the calls' goroutines are
	// scheduled: on a quiet machine about 20 a write, on a loaded one
	// fewer. At least two a write, on average, shows they are coalesced.
	if w := ln.writes.Load(); w > n/2 {
		t.Fatalf("%d responses took %d writes", n, w)
	} else {
		t.Logf("%d responses in %d writes", n, w)
	}
}

func TestServerMaxInFlight(t *testing.T) {
	h := &testHandler{release: make(chan struct{})}
	srv, addr := startServer(t, h, ServerConfig{MaxInFlight: 4})
	r := dialRaw(t, addr)
	for i := range 6 {
		r.send(request(V6, int32(i), ContentJSON, "t/wait", "[]"))
	}
	testutil.WaitFor(t, 5*time.Second, func() bool { return h.calls.Load() == 4 }, "calls did not start")
	// Once the reader waits for a slot, with the fifth request read, a
	// fifth call would have started already.
	testutil.WaitFor(t, 5*time.Second, func() bool {
		conns := srv.snapshotConns()
		return len(conns) == 1 && conns[0].slotWaits.Load() > 0
	}, "the reader did not wait for a slot")
	if n := h.calls.Load(); n != 4 {
		t.Fatalf("%d calls started, want 4", n)
	}
	if n := srv.InFlight(); n != 4 {
		t.Fatalf("%d calls in flight, want 4", n)
	}
	close(h.release)
	for range 6 {
		if p := r.recv(); p.Type != TypeResponse {
			t.Fatalf("got %+v", p)
		}
	}
}

// TestServerGracefulShutdown checks that calls received before Shutdown
// finish and are answered, and that new connections are refused.
func TestServerGracefulShutdown(t *testing.T) {
	testutil.CheckGoroutines(t)
	h := &testHandler{release: make(chan struct{})}
	srv, addr := startServer(t, h, ServerConfig{})
	const conns, perConn = 4, 16
	var rs []*rawConn
	for c := range conns {
		r := dialRaw(t, addr)
		for i := range perConn {
			r.send(request(V6, int32(c*perConn+i), ContentJSON, "t/wait", "[]"))
		}
		rs = append(rs, r)
	}
	testutil.WaitFor(t, 5*time.Second, func() bool { return h.calls.Load() == conns*perConn }, "calls did not start")

	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()
	testutil.WaitFor(t, 5*time.Second, func() bool {
		nc, err := net.Dial("tcp", addr)
		if err == nil {
			nc.Close()
		}
		return err != nil
	}, "listener still accepting after Shutdown")
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with calls in flight", err)
	default:
	}
	close(h.release)
	for _, r := range rs {
		for range perConn {
			if p := r.recv(); p.Type != TypeResponse || string(p.Body) != `"released"` {
				t.Fatalf("in-flight call: got %+v", p)
			}
		}
		r.expectClosed()
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

func TestServerShutdownDeadline(t *testing.T) {
	testutil.CheckGoroutines(t)
	h := &testHandler{release: make(chan struct{})}
	srv, addr := startServer(t, h, ServerConfig{})
	r := dialRaw(t, addr)
	r.send(request(V6, 1, ContentJSON, "t/wait", "[]"))
	testutil.WaitFor(t, 5*time.Second, func() bool { return h.calls.Load() == 1 }, "call did not start")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want deadline exceeded", err)
	}
	r.expectClosed()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestServerShutdownIgnoredCancel checks that Shutdown returns when its
// context ends even if a function ignores cancellation.
func TestServerShutdownIgnoredCancel(t *testing.T) {
	h := &testHandler{release: make(chan struct{})}
	srv, addr := startServer(t, h, ServerConfig{})
	r := dialRaw(t, addr)
	r.send(request(V6, 1, ContentJSON, "t/stubborn", "[]"))
	testutil.WaitFor(t, 5*time.Second, func() bool { return h.calls.Load() == 1 }, "the call to start")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Shutdown returned after %v", d)
	}
	close(h.release) // let the stubborn function end, so Close can wait for it
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestServerSlowReader checks that a peer that doesn't read its answers
// stops being served once its queue is full, instead of the server holding
// every answer in memory, and that it gets them all once it reads.
func TestServerSlowReader(t *testing.T) {
	testutil.CheckGoroutines(t)
	h := &testHandler{}
	srv, addr := startServer(t, h, ServerConfig{Limits: Limits{MaxBodySize: 1 << 20}})
	r := dialRaw(t, addr)
	const n = 40 // 20 MB of answers: more than the queue and the socket buffers hold
	var batch []byte
	for i := range n {
		batch, _ = AppendPacket(batch, request(V6, int32(i), ContentJSON, "t/big", "[]"))
	}
	r.write(batch)
	// Wait until the calls in flight stop changing: without a bound they
	// all finish, with it some wait for room.
	last, since := -1, time.Now()
	testutil.WaitFor(t, 20*time.Second, func() bool {
		if n := srv.InFlight(); n != last {
			last, since = n, time.Now()
		}
		return time.Since(since) > 300*time.Millisecond
	}, "the calls in flight to settle")
	if last == 0 {
		t.Fatalf("all %d calls answered with nobody reading", n)
	}
	for _, c := range srv.snapshotConns() {
		c.wmu.Lock()
		queued, limit := len(c.wbuf), c.maxQueued
		c.wmu.Unlock()
		if queued > limit+(1<<20) {
			t.Fatalf("%d bytes queued for a peer that doesn't read, limit %d", queued, limit)
		}
	}
	for range n {
		if p := r.recv(); p.Type != TypeResponse || len(p.Body) != 512<<10+2 {
			t.Fatalf("got %+v (%d bytes)", p.Type, len(p.Body))
		}
	}
}

func TestNewServerValidates(t *testing.T) {
	if _, err := NewServer(nil, ServerConfig{}); err == nil {
		t.Error("nil handler accepted")
	}
	if _, err := NewServer(&testHandler{}, ServerConfig{MaxInFlight: -1}); err == nil {
		t.Error("negative MaxInFlight accepted")
	}
	_, err := NewServer(&testHandler{}, ServerConfig{IdleTimeout: -1, MaxConns: -1})
	if j, ok := err.(interface{ Unwrap() []error }); !ok || len(j.Unwrap()) != 2 {
		t.Errorf("two bad fields: got %v, want both reported", err)
	}
}

// TestCallCtx checks the context of a call: its deadline is reported,
// an expired one reads as DeadlineExceeded, and contexts made from it end
// with it.
func TestCallCtx(t *testing.T) {
	d := time.Now().Add(time.Hour)
	cc := new(callCtx)
	cc.init(d)
	if got, ok := cc.Deadline(); !ok || !got.Equal(d) {
		t.Fatalf("Deadline = %v, %v", got, ok)
	}
	child, cancel := context.WithCancel(cc)
	defer cancel()
	later, cancelLater := context.WithDeadline(cc, d.Add(time.Hour))
	defer cancelLater()
	cc.expire(time.Now())
	if cc.Err() != nil {
		t.Fatal("expired before its deadline")
	}
	cc.expire(d)
	if !errors.Is(cc.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err = %v, want DeadlineExceeded", cc.Err())
	}
	for _, ctx := range []context.Context{child, later, cc} {
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
			t.Fatal("a context made from the call's did not end with it")
		}
		if cause := context.Cause(ctx); !errors.Is(cause, context.DeadlineExceeded) {
			t.Fatalf("cause %v, want DeadlineExceeded", cause)
		}
	}
	none := new(callCtx)
	none.init(time.Time{})
	if _, ok := none.Deadline(); ok {
		t.Fatal("a call without deadline has one")
	}
	none.expire(time.Now().Add(100 * 365 * 24 * time.Hour))
	if none.Err() != nil {
		t.Fatal("a call without deadline expired")
	}
	none.stop()
	if !errors.Is(none.Err(), context.Canceled) {
		t.Fatalf("cancelled: %v", none.Err())
	}
}

// TestServerDeadlineAfterIdle checks that deadlines are enforced again
// once a connection has been idle, when its deadline checks sleep.
func TestServerDeadlineAfterIdle(t *testing.T) {
	testutil.CheckGoroutines(t)
	srv, addr := startServer(t, &testHandler{}, ServerConfig{})
	r := dialRaw(t, addr)
	for tid := int32(1); tid <= 2; tid++ {
		soon := fmt.Appendf(nil, "%d", time.Now().Add(50*time.Millisecond).UnixMilli())
		start := time.Now()
		r.send(request(V6, tid, ContentJSON, "t/block", "[]", Extension{ID: DeadlineExtension, Value: soon}))
		if p := r.recv(); p.Type != TypeError || p.TID != tid || p.Code != CodeCanceled {
			t.Fatalf("call %d: got %+v", tid, p)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("call %d: deadline honoured after %v", tid, d)
		}
		c := srv.snapshotConns()[0]
		idles := c.watchIdles.Load()
		r.callOK(10 + tid)
		// The deadline checks go idle once no call runs: after this
		// one, if they were idle before it.
		testutil.WaitFor(t, 5*time.Second, func() bool { return c.watchIdles.Load() > idles }, "the deadline checks did not go idle")
	}
}

// TestServerSlowCallHandsOver checks that a call blocking the reader that
// runs it inline hands the reading over: the calls behind it are served,
// a second blocking call among them.
func TestServerSlowCallHandsOver(t *testing.T) {
	testutil.CheckGoroutines(t)
	h := &testHandler{release: make(chan struct{})}
	_, addr := startServer(t, h, ServerConfig{})
	r := dialRaw(t, addr)
	r.send(request(V6, 1, ContentJSON, "t/wait", "[]"))
	r.send(request(V6, 2, ContentJSON, "t/wait", "[]"))
	r.send(request(V6, 3, ContentJSON, "t/echo", "[3]"))
	if p := r.recv(); p.TID != 3 || string(p.Body) != "3" {
		t.Fatalf("got %+v, want the echo's answer", p)
	}
	testutil.WaitFor(t, 5*time.Second, func() bool { return h.calls.Load() == 3 }, "the second wait did not start")
	close(h.release)
	for range 2 {
		if p := r.recv(); (p.TID != 1 && p.TID != 2) || string(p.Body) != `"released"` {
			t.Fatalf("got %+v", p)
		}
	}
	r.callOK(4)
}

// TestSlowFuncs checks the back-off of functions slow on a connection.
func TestSlowFuncs(t *testing.T) {
	const fast, slow, hung = inlineMax, inlineMax + 1, deadlineTick
	m := make(slowFuncs)
	// handed counts the calls handed over before the next inline one.
	handed := func() int {
		n := 0
		for !m.inline("f") {
			n++
		}
		return n
	}
	if n := handed(); n != 0 {
		t.Fatalf("a function never slow: %d calls handed over", n)
	}
	m.ran("f", slow)
	if n := handed(); n != 0 {
		t.Fatalf("after one slow call: %d calls handed over", n)
	}
	for _, want := range []int{64, 128, 256, 512} {
		m.ran("f", slow)
		if n := handed(); n != want {
			t.Fatalf("handed over %d calls, want %d", n, want)
		}
	}
	m.ran("f", fast)
	if n := handed(); n != 0 {
		t.Fatalf("after a fast call: %d calls handed over", n)
	}
	m.ran("f", hung)
	if n := handed(); n != 64 {
		t.Fatalf("after a call handed over: %d calls handed over, want 64", n)
	}
	for range 20 {
		m.ran("f", slow)
		handed()
	}
	m.ran("f", slow)
	if n := handed(); n != 65536 {
		t.Fatalf("handed over %d calls, want the most, 65536", n)
	}
	if !m.inline("g") {
		t.Fatal("another function is slow too")
	}
}

// TestServerAuth checks token authentication: calls, inspect requests
// and interrupts before an accepted token are refused with acl-reject,
// a wrong token is refused and leaves the connection unauthenticated,
// and pings and hellos need no token.
func TestServerAuth(t *testing.T) {
	testutil.CheckGoroutines(t)
	_, addr := startServer(t, &testHandler{}, ServerConfig{Authenticate: func(tok string) bool { return tok == "s3cret" }})
	r := dialRaw(t, addr)
	refused := func(tid int32) {
		t.Helper()
		if p := r.recv(); p.Type != TypeError || p.TID != tid || p.Code != CodeACLReject {
			t.Fatalf("tid %d: got %+v, want acl-reject", tid, p)
		}
	}
	r.send(&Packet{Version: V6, TID: 1, Type: TypePing})
	if p := r.recv(); p.Type != TypePong {
		t.Fatalf("ping: %+v", p)
	}
	r.send(request(V6, 2, ContentJSON, "t/add", "[1,2]"))
	refused(2)
	r.send(&Packet{Version: V6, TID: 3, Type: TypeInspectReq, Command: InspectFunctions, Body: []byte(`""`)})
	refused(3)
	for tid, tok := range map[int32]string{4: "wrong", 5: ""} {
		r.send(&Packet{Version: V6, TID: tid, Type: TypeAuthReq, Token: tok})
		if p := r.recv(); p.Type != TypeAuthAck || p.TID != tid || p.AuthResult != AuthReject {
			t.Fatalf("token %q: got %+v, want a refusal", tok, p)
		}
		r.send(request(V6, 10+tid, ContentJSON, "t/add", "[1,2]"))
		refused(10 + tid)
	}
	r.send(&Packet{Version: V6, TID: 6, Type: TypeAuthReq, Token: "s3cret"})
	if p := r.recv(); p.Type != TypeAuthAck || p.AuthResult != AuthOK {
		t.Fatalf("the right token: got %+v", p)
	}
	r.callOK(7)

	// Without Authenticate, any token does.
	_, open := startServer(t, &testHandler{}, ServerConfig{})
	o := dialRaw(t, open)
	o.send(&Packet{Version: V5, TID: 1, Type: TypeAuthReq, Token: "anything"})
	if p := o.recv(); p.Type != TypeAuthAck || p.AuthResult != AuthOK {
		t.Fatalf("open server: got %+v", p)
	}
	o.callOK(2)
}

// TestServerMaxConns checks that connections past MaxConns are closed at
// once, and that one is taken again once another has gone.
func TestServerMaxConns(t *testing.T) {
	testutil.CheckGoroutines(t)
	_, addr := startServer(t, &testHandler{}, ServerConfig{MaxConns: 1})
	a := dialRaw(t, addr)
	a.callOK(1)
	b := dialRaw(t, addr)
	b.expectClosed()
	a.nc.Close()
	testutil.WaitFor(t, 5*time.Second, func() bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return false
		}
		defer c.Close()
		rc := &rawConn{t: t, nc: c, dec: NewDecoder(c, Limits{})}
		rc.send(request(V6, 1, ContentJSON, "t/add", "[1,2]"))
		c.SetReadDeadline(time.Now().Add(time.Second))
		var p Packet
		return rc.dec.Decode(&p) == nil && p.Type == TypeResponse
	}, "a connection served once the first has gone")
}

// TestServerPeerGoneAfterHandOver checks that a call blocking inline is
// cancelled when the peer goes away (its connection reset) after the
// reading was handed over from it. A peer that closes with a FIN can't be
// told from one that only ended its requests: see TestServerHalfClose.
func TestServerPeerGoneAfterHandOver(t *testing.T) {
	testutil.CheckGoroutines(t)
	h := &testHandler{started: make(chan string, 1)}
	srv, addr := startServer(t, h, ServerConfig{})
	r := dialRaw(t, addr)
	r.send(request(V6, 1, ContentJSON, "t/block", "[]"))
	<-h.started
	c := srv.snapshotConns()[0]
	testutil.WaitFor(t, 5*time.Second, func() bool { return c.inline.Load() == nil }, "the reading was not handed over")
	r.nc.(*net.TCPConn).SetLinger(0) // Close resets the connection
	r.nc.Close()
	testutil.WaitFor(t, 5*time.Second, func() bool { return srv.InFlight() == 0 }, "the blocked call cancelled")
}

// TestSlowFuncsBounded checks that a connection keeps at most
// maxSlowFuncs slow functions.
func TestSlowFuncsBounded(t *testing.T) {
	m := make(slowFuncs)
	for i := range 10 * maxSlowFuncs {
		m.ran(fmt.Sprint("f", i), deadlineTick)
	}
	if len(m) != maxSlowFuncs {
		t.Fatalf("%d slow functions kept, want %d", len(m), maxSlowFuncs)
	}
}

// TestServerKeepsCallBytes checks that a call keeps its arguments and
// extensions while the reader decodes the packets after it into the same
// buffers: a call that waits (its reading handed over) and the calls
// after it each get their own extensions back.
func TestServerKeepsCallBytes(t *testing.T) {
	testutil.CheckGoroutines(t)
	h := &testHandler{started: make(chan string, 16), release: make(chan struct{})}
	_, addr := startServer(t, h, ServerConfig{})
	r := dialRaw(t, addr)
	ext := func(i int) []Extension {
		return []Extension{{ID: 7, Value: fmt.Appendf(nil, `"ext %d"`, i)}}
	}
	r.send(request(V6, 1, ContentJSON, "t/wait", "[]", ext(1)...))
	if name := <-h.started; name != "t/wait" {
		t.Fatalf("started %s", name)
	}
	for i := 2; i <= 9; i++ {
		exts := ext(i)
		if i%2 == 0 {
			exts = append(exts, Extension{ID: 8, Value: []byte("[]")})
		}
		r.send(request(V6, int32(i), ContentJSON, "t/echo", fmt.Sprintf(`["arg %d"]`, i), exts...))
	}
	for i := 2; i <= 9; i++ {
		<-h.started
		p := r.recv()
		if want := fmt.Sprintf(`"arg %d"`, p.TID); string(p.Body) != want || string(p.Extensions[0].Value) != fmt.Sprintf(`"ext %d"`, p.TID) {
			t.Fatalf("tid %d answered %q with extensions %v", p.TID, p.Body, p.Extensions)
		}
	}
	close(h.release)
	p := r.recv()
	if p.TID != 1 || string(p.Body) != `"released"` || len(p.Extensions) != 1 || string(p.Extensions[0].Value) != `"ext 1"` {
		t.Fatalf("t/wait answered %+v, body %q, extensions %v", p, p.Body, p.Extensions)
	}
}

// FuzzCallTrace checks that the trace context extensions of any bytes,
// in any codec, give a valid trace context or none, and never a panic.
func FuzzCallTrace(f *testing.F) {
	f.Add(byte(0), []byte(`"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"`), []byte(`"k=v"`))
	f.Add(byte(1), []byte("\xd9\x3700-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), []byte("\xa3k=v"))
	f.Add(byte(2), []byte(`{:a 1}`), []byte(`[1 2]`))
	codecs := []Codec{JSON, Msgpack, EDN, Nippy}
	f.Fuzz(func(t *testing.T, which byte, parent, state []byte) {
		tc := callTrace(codecs[int(which)%len(codecs)], []Extension{{ID: TraceParentExtension, Value: parent}, {ID: TraceStateExtension, Value: state}})
		if tc != nil && (!tc.Valid() || len(tc.State) > tracectx.MaxState) {
			t.Fatalf("%+v", *tc)
		}
	})
}
