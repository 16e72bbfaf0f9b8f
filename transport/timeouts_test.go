package transport

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/internal/testutil"
)

// closedWithin checks that the server closes r's connection within limit,
// answering nothing more, and returns how long that took.
func (r *rawConn) closedWithin(limit time.Duration) time.Duration {
	r.t.Helper()
	start := time.Now()
	r.nc.SetReadDeadline(start.Add(limit))
	var p Packet
	err := r.dec.Decode(&p)
	took := time.Since(start)
	var ne net.Error
	switch {
	case err == nil:
		r.t.Fatalf("want the connection closed, got packet %+v", p)
	case errors.As(err, &ne) && ne.Timeout():
		r.t.Fatalf("the connection was still open after %v", limit)
	}
	return took
}

// openAfter checks that r's connection still serves a call.
func (r *rawConn) openAfter(tid int32) {
	r.t.Helper()
	r.callOK(tid)
}

// TestServerHandshakeTimeout checks that a connection that sends no
// complete frame within HandshakeTimeout is closed: a silent one, and one
// that trickles its first frame, which FrameTimeout alone would let live.
// One that sends a frame in time is served.
func TestServerHandshakeTimeout(t *testing.T) {
	testutil.CheckGoroutines(t)
	const hs = 200 * time.Millisecond
	_, addr := startServer(t, &testHandler{}, ServerConfig{HandshakeTimeout: hs, FrameTimeout: time.Minute})

	silent := dialRaw(t, addr)
	partial := dialRaw(t, addr)
	b, _ := AppendPacket(nil, request(V6, 1, ContentJSON, "t/add", "[1,2]"))
	partial.write(b[:len(b)-1])
	good := dialRaw(t, addr)
	good.callOK(1)

	for name, r := range map[string]*rawConn{"silent": silent, "partial": partial} {
		if took := r.closedWithin(hs + 2*time.Second); took > hs+2*time.Second {
			t.Errorf("%s: closed after %v", name, took)
		}
	}
	good.openAfter(2)
}

// TestServerHandshakeNeedsToken checks that, when tokens are required, a
// connection that keeps sending frames but gives no accepted token is
// closed once HandshakeTimeout has passed, and one that gave one is not.
func TestServerHandshakeNeedsToken(t *testing.T) {
	testutil.CheckGoroutines(t)
	const hs = 300 * time.Millisecond
	_, addr := startServer(t, &testHandler{}, ServerConfig{
		HandshakeTimeout: hs,
		Authenticate:     func(tok string) bool { return tok == "s3cret" },
	})
	authed := dialRaw(t, addr)
	authed.send(&Packet{Version: V6, TID: 1, Type: TypeAuthReq, Token: "s3cret"})
	if p := authed.recv(); p.Type != TypeAuthAck || p.AuthResult != AuthOK {
		t.Fatalf("the right token: got %+v", p)
	}

	start := time.Now() // before the dial: the server's clock starts at its accept
	anon := dialRaw(t, addr)
	closed := false
	for tid := int32(1); time.Since(start) < hs+2*time.Second; tid++ {
		b, _ := AppendPacket(nil, &Packet{Version: V6, TID: tid, Type: TypePing})
		if _, err := anon.nc.Write(b); err != nil {
			closed = true
			break
		}
		anon.nc.SetReadDeadline(time.Now().Add(2 * time.Second))
		var p Packet
		if err := anon.dec.Decode(&p); err != nil {
			closed = true
			break
		}
		if p.Type != TypePong {
			t.Fatalf("ping: got %+v", p)
		}
	}
	if !closed {
		t.Fatalf("a connection without a token still open %v after it began", time.Since(start))
	}
	if took := time.Since(start); took < hs {
		t.Fatalf("closed after %v, before the handshake timeout %v", took, hs)
	}
	authed.openAfter(2)
}

// TestServerIdleTimeout checks that a connection with no call in flight
// that sends nothing for IdleTimeout is closed, within 1.25 of it and a
// slack; that one sending pings is not; and that a call running longer
// than IdleTimeout is answered, the connection closed only after.
func TestServerIdleTimeout(t *testing.T) {
	testutil.CheckGoroutines(t)
	const idle = 400 * time.Millisecond
	h := &testHandler{started: make(chan string, 8), release: make(chan struct{})}
	_, addr := startServer(t, h, ServerConfig{IdleTimeout: idle})

	quiet := dialRaw(t, addr)
	quietSince := time.Now() // before the ping: the server's clock starts when it reads it
	quiet.send(&Packet{Version: V6, TID: 1, Type: TypePing})
	quiet.recv()

	busy := dialRaw(t, addr)
	busy.send(request(V6, 1, ContentJSON, "t/wait", "[]"))
	<-h.started

	pinger := dialRaw(t, addr)
	quiet.closedWithin(idle*5/4 + 2*time.Second)
	if took := time.Since(quietSince); took < idle {
		t.Fatalf("a quiet connection closed after %v, before IdleTimeout %v", took, idle)
	}
	// The pinger pings for three times IdleTimeout; the call runs as long.
	for start, tid := time.Now(), int32(1); time.Since(start) < 3*idle; tid++ {
		pinger.send(&Packet{Version: V6, TID: tid, Type: TypePing})
		if p := pinger.recv(); p.Type != TypePong {
			t.Fatalf("ping: got %+v", p)
		}
	}
	pinger.openAfter(100)

	answered := time.Now() // before the release: the call ends after it
	close(h.release)
	if p := busy.recv(); p.Type != TypeResponse || p.TID != 1 || string(p.Body) != `"released"` {
		t.Fatalf("the long call: got %+v, body %q", p, p.Body)
	}
	busy.closedWithin(idle*5/4 + 2*time.Second)
	if took := time.Since(answered); took < idle {
		t.Fatalf("closed %v after its call ended, before IdleTimeout %v", took, idle)
	}
}

// TestServerAuthFailures checks that a connection is closed once it gave
// MaxAuthFailures refused tokens, each refusal answered, and no sooner
// than AuthFailureDelay each.
func TestServerAuthFailures(t *testing.T) {
	testutil.CheckGoroutines(t)
	_, addr := startServer(t, &testHandler{}, ServerConfig{Authenticate: func(tok string) bool { return tok == "s3cret" }})
	r := dialRaw(t, addr)
	start := time.Now()
	for tid := int32(1); tid <= DefaultMaxAuthFailures; tid++ {
		r.send(&Packet{Version: V6, TID: tid, Type: TypeAuthReq, Token: "guess"})
		if p := r.recv(); p.Type != TypeAuthAck || p.TID != tid || p.AuthResult != AuthReject {
			t.Fatalf("guess %d: got %+v, want a refusal", tid, p)
		}
	}
	if took := time.Since(start); took < DefaultMaxAuthFailures*AuthFailureDelay {
		t.Fatalf("%d refusals in %v, want at least %v", DefaultMaxAuthFailures, took, DefaultMaxAuthFailures*AuthFailureDelay)
	}
	r.closedWithin(5 * time.Second)

	// Guesses sent at once are answered one by one, and end the same way.
	g := dialRaw(t, addr)
	var b []byte
	for tid := int32(1); tid <= 10; tid++ {
		b, _ = AppendPacket(b, &Packet{Version: V6, TID: tid, Type: TypeAuthReq, Token: "guess"})
	}
	g.write(b)
	for tid := int32(1); tid <= DefaultMaxAuthFailures; tid++ {
		if p := g.recv(); p.Type != TypeAuthAck || p.AuthResult != AuthReject {
			t.Fatalf("guess %d: got %+v, want a refusal", tid, p)
		}
	}
	g.closedWithin(5 * time.Second)
}

// TestServerHalfClose checks that a peer that sends its requests and then
// ends its sending gets every answer, of calls run inline and of calls
// still running on workers, before the server closes the connection.
func TestServerHalfClose(t *testing.T) {
	testutil.CheckGoroutines(t)
	h := &testHandler{release: make(chan struct{})}
	_, addr := startServer(t, h, ServerConfig{})
	r := dialRaw(t, addr)
	var b []byte
	b, _ = AppendPacket(b, request(V6, 1, ContentJSON, "t/wait", "[]"))
	for tid := int32(2); tid <= 50; tid++ {
		b, _ = AppendPacket(b, request(V6, tid, ContentJSON, "t/add", "[1,2]"))
	}
	r.write(b)
	if err := r.nc.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got := make(map[int32]bool)
	for len(got) < 49 {
		p := r.recv()
		if p.Type != TypeResponse || string(p.Body) != "3" {
			t.Fatalf("got %+v, body %q", p, p.Body)
		}
		got[p.TID] = true
	}
	close(h.release)
	if p := r.recv(); p.Type != TypeResponse || p.TID != 1 || string(p.Body) != `"released"` {
		t.Fatalf("the call still running at the half-close: got %+v, body %q", p, p.Body)
	}
	r.closedWithin(5 * time.Second)
}

// TestServerHelloCut checks that the client name and version of a hello
// are kept cut to MaxHelloString bytes, and that the clients inspect
// command answers even when the clients can't all fit its packet.
func TestServerHelloCut(t *testing.T) {
	testutil.CheckGoroutines(t)
	_, addr := startServer(t, &testHandler{}, ServerConfig{})
	long := strings.Repeat("é", 30000) // 60000 bytes
	const peers = 300
	for i := range peers {
		r := dialRaw(t, addr)
		r.send(&Packet{Version: V6, TID: int32(i), Type: TypeClientHello, ClientName: long, ClientVersion: long})
		if p := r.recv(); p.Type != TypeServerHello {
			t.Fatalf("hello: got %+v", p)
		}
	}
	r := dialRaw(t, addr)
	r.send(&Packet{Version: V6, TID: 1, Type: TypeInspectReq, Command: InspectClients})
	p := r.recv()
	if p.Type != TypeInspectAck {
		t.Fatalf("inspect clients: got %+v", p)
	}
	v, err := ParseEDN(p.Body)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := v.(map[any]any)
	list, _ := m[clientsKey].([]any)
	if len(list) == 0 || len(list) > peers {
		t.Fatalf("%d clients listed of %d", len(list), peers+1)
	}
	t.Logf("%d clients of %d listed in %d bytes", len(list), peers+1, len(p.Body))
	for _, ci := range list {
		m, _ := ci.(map[any]any)
		name, _ := m[Keyword("name")].(string)
		if name == "" {
			continue // the inspecting connection said no hello
		}
		if want := strings.Repeat("é", MaxHelloString/2); name != want || m[Keyword("version")] != want {
			t.Fatalf("name of %d bytes, want it and the version cut to %d bytes", len(name), MaxHelloString)
		}
	}
}

func TestCutHello(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"go", "go"},
		{strings.Repeat("a", MaxHelloString), strings.Repeat("a", MaxHelloString)},
		{strings.Repeat("a", MaxHelloString+1), strings.Repeat("a", MaxHelloString)},
		{"a" + strings.Repeat("é", MaxHelloString), "a" + strings.Repeat("é", MaxHelloString/2-1)},
	} {
		if got := cutHello(tt.in); got != tt.want {
			t.Errorf("cutHello(%d bytes) = %d bytes, want %d", len(tt.in), len(got), len(tt.want))
		}
	}
}
