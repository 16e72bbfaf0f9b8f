package tests

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/transport"
)

// The attacks on connections: sockets that hold the server's connections
// without using them, tokens guessed, HTTP requests sent a byte at a
// time, a client-hello as large as the protocol allows, and a peer that
// half-closes. Each runs against a real `slacker-lua serve`, with the
// timeouts that are its subject set small by flag, and checks the outcome
// within the timeout and connSlack.

// connSlack is the time allowed past a timeout for the server to act on
// it on a loaded machine.
const connSlack = 3 * time.Second

// connRSS bounds the server's peak resident memory in these attacks.
const connRSS = 100 << 20

// rawPeer is a connection that speaks packets to the server with no
// client logic in between.
type rawPeer struct {
	nc  net.Conn
	dec *transport.Decoder
}

func dialPeer(t *testing.T, addr string) *rawPeer {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawPeer{nc: nc, dec: transport.NewDecoder(nc, transport.Limits{})}
}

func (r *rawPeer) send(t *testing.T, ps ...*transport.Packet) {
	t.Helper()
	var b []byte
	for _, p := range ps {
		var err error
		if b, err = transport.AppendPacket(b, p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.nc.Write(b); err != nil {
		t.Fatal(err)
	}
}

func (r *rawPeer) recv(t *testing.T) *transport.Packet {
	t.Helper()
	r.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var p transport.Packet
	if err := r.dec.Decode(&p); err != nil {
		t.Fatalf("reading a packet: %v", err)
	}
	return &p
}

// closedBy waits until the server has closed r's connection, failing the
// test if it has not by deadline or if it sends a packet meanwhile.
func (r *rawPeer) closedBy(t *testing.T, deadline time.Time, what string) {
	t.Helper()
	r.nc.SetReadDeadline(deadline)
	var p transport.Packet
	err := r.dec.Decode(&p)
	var ne net.Error
	switch {
	case err == nil:
		t.Fatalf("%s: got packet %+v, want the connection closed", what, p)
	case errors.As(err, &ne) && ne.Timeout():
		t.Fatalf("%s: still open at its deadline", what)
	}
}

var ping = &transport.Packet{Version: transport.V6, Type: transport.TypePing}

// TestAttackIdleConns holds --max-conns with idle sockets: silent ones
// are closed after --handshake-timeout, ones that pinged once after
// --idle-timeout (and 1/4 of it), and a new caller then gets in. While
// one slot is left, callers are served on it meanwhile.
func TestAttackIdleConns(t *testing.T) {
	const (
		maxConns  = 20
		handshake = 500 * time.Millisecond
		idle      = time.Second
	)
	a := startTarget(t, nil, "--max-conns", fmt.Sprint(maxConns),
		"--handshake-timeout", handshake.String(), "--idle-timeout", idle.String())

	// One slot left: the probes are served beside the idle sockets.
	hold := func(n int) (silent, pinged []*rawPeer, start time.Time) {
		start = time.Now()
		for i := range n {
			r := dialPeer(t, a.addr)
			if i%2 == 0 {
				silent = append(silent, r)
				continue
			}
			r.send(t, ping)
			if p := r.recv(t); p.Type != transport.TypePong {
				t.Fatalf("ping: got %+v", p)
			}
			pinged = append(pinged, r)
		}
		return silent, pinged, start
	}
	silent, pinged, start := hold(maxConns - 1)
	a.probeDuring(t, func() {
		for _, r := range silent {
			r.closedBy(t, start.Add(handshake+connSlack), "a silent socket")
		}
		for _, r := range pinged {
			r.closedBy(t, start.Add(idle*5/4+connSlack), "a socket idle after a ping")
		}
	})

	// Every slot taken: a new caller is refused until the sockets go.
	silent, pinged, start = hold(maxConns)
	if err := a.tryProbe(2 * time.Second); err == nil {
		t.Fatal("a caller was served past --max-conns")
	}
	for _, r := range append(silent, pinged...) {
		r.closedBy(t, start.Add(idle*5/4+connSlack), "an idle socket")
	}
	timed(t, 2*time.Second, "a caller once the idle sockets were closed", func() { a.probe(t) })
	a.alive(t)
	a.maxRSS(t, connRSS)
}

// tokenTarget serves with --token-file and returns the token with the
// server.
func tokenTarget(t *testing.T, flags ...string) (*attackTarget, string) {
	t.Helper()
	const token = "s3cret-token"
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return startTarget(t, nil, append([]string{"--token-file", tokens}, flags...)...), token
}

// tokenProbe calls probe.ok/ping with token on a connection of its own,
// within 2s.
func tokenProbe(addr, token string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, addr, client.Config{Token: token})
	if err != nil {
		return err
	}
	defer c.Close()
	got, err := client.CallAs[string](ctx, c, "probe.ok/ping")
	if err == nil && got != "pong" {
		err = fmt.Errorf("probe.ok/ping = %q, want pong", got)
	}
	return err
}

// TestAttackUnauthenticatedConns holds connections without a token on a
// server that requires one, pinging all along: they are closed once
// --handshake-timeout has passed, while callers with the token are
// served, and a new caller then gets in past --max-conns.
func TestAttackUnauthenticatedConns(t *testing.T) {
	const (
		maxConns  = 10
		handshake = 500 * time.Millisecond
	)
	a, token := tokenTarget(t, "--max-conns", fmt.Sprint(maxConns), "--handshake-timeout", handshake.String())
	start := time.Now()
	var peers []*rawPeer
	for range maxConns - 1 {
		peers = append(peers, dialPeer(t, a.addr))
	}
	// Each pings every 50ms until the server closes it.
	closed := make(chan time.Duration, len(peers))
	var wg sync.WaitGroup
	for _, r := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, _ := transport.AppendPacket(nil, ping)
			for {
				r.nc.SetDeadline(time.Now().Add(handshake + connSlack))
				var p transport.Packet
				if _, err := r.nc.Write(b); err != nil || r.dec.Decode(&p) != nil {
					closed <- time.Since(start)
					return
				}
				time.Sleep(50 * time.Millisecond) // the pace of the pings
			}
		}()
	}
	if err := tokenProbe(a.addr, token); err != nil {
		t.Fatalf("a caller with the token was not served meanwhile: %v\n%s", err, a.log())
	}
	wg.Wait()
	close(closed)
	for took := range closed {
		if took < handshake || took > handshake+connSlack {
			t.Fatalf("a connection without a token closed after %v, want between %v and %v", took, handshake, handshake+connSlack)
		}
	}
	if err := tokenProbe(a.addr, token); err != nil {
		t.Fatalf("a caller with the token was not served after: %v\n%s", err, a.log())
	}
	a.alive(t)
	a.maxRSS(t, connRSS)
}

// TestAttackTokenGuessing sends a thousand guesses of the token at once
// on one connection: three are answered, refused, a delay apart, and the
// connection is closed, while callers with the token are served.
func TestAttackTokenGuessing(t *testing.T) {
	a, token := tokenTarget(t)
	r := dialPeer(t, a.addr)
	var guesses []*transport.Packet
	for i := range 1000 {
		guesses = append(guesses, &transport.Packet{Version: transport.V6, TID: int32(i), Type: transport.TypeAuthReq, Token: fmt.Sprint("guess-", i)})
	}
	start := time.Now()
	r.send(t, guesses...)
	a.probeDuringWith(t, func() error { return tokenProbe(a.addr, token) }, func() {
		for i := range transport.DefaultMaxAuthFailures {
			if p := r.recv(t); p.Type != transport.TypeAuthAck || p.AuthResult != transport.AuthReject {
				t.Fatalf("guess %d: got %+v, want a refusal", i, p)
			}
		}
		r.closedBy(t, start.Add(transport.DefaultMaxAuthFailures*transport.AuthFailureDelay+connSlack), "a connection guessing tokens")
	})
	if took := time.Since(start); took < transport.DefaultMaxAuthFailures*transport.AuthFailureDelay {
		t.Fatalf("%d guesses refused in %v, want at least %v", transport.DefaultMaxAuthFailures, took, transport.DefaultMaxAuthFailures*transport.AuthFailureDelay)
	}
	a.alive(t)
	a.maxRSS(t, connRSS)
}

// trickle writes s to nc a byte every gap, until the server closes the
// connection or s ends, and returns when it stopped.
func trickle(nc net.Conn, s string, gap time.Duration) {
	for i := range len(s) {
		if _, err := nc.Write([]byte{s[i]}); err != nil {
			return
		}
		time.Sleep(gap) // the attacker's pace
	}
}

// httpClosed waits until the HTTP server has answered or closed nc, and
// returns the answer's status, 0 for none.
func httpClosed(t *testing.T, nc net.Conn, deadline time.Time, what string) int {
	t.Helper()
	nc.SetReadDeadline(deadline)
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	var ne net.Error
	switch {
	case err == nil:
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	case errors.As(err, &ne) && ne.Timeout():
		t.Fatalf("%s: no answer and still open at its deadline", what)
	}
	return 0
}

// TestAttackSlowHTTP sends a request's headers, and then a body, a byte
// at a time: the server cuts the headers off after --handshake-timeout
// and the body after --frame-timeout, while other callers are served.
func TestAttackSlowHTTP(t *testing.T) {
	const limit = 500 * time.Millisecond
	a := startTarget(t, nil, "--http", "127.0.0.1:0", "--handshake-timeout", limit.String(), "--frame-timeout", limit.String())
	host := strings.TrimPrefix(httpURL(t, a.cliServer), "http://")
	dial := func() net.Conn {
		nc, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		return nc
	}
	a.probeDuring(t, func() {
		// Timed from before the dial: the server's clock starts when it
		// accepts the connection.
		start := time.Now()
		headers := dial()
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			trickle(headers, "POST /probe.ok/ping.json HTTP/1.1\r\nHost: x\r\nX-Slow: "+strings.Repeat("a", 1000), 20*time.Millisecond)
		}()
		// Cut off: closed, or answered 400 or 408 first.
		if code := httpClosed(t, headers, start.Add(limit+connSlack), "slow headers"); code != 0 && code != http.StatusBadRequest && code != http.StatusRequestTimeout {
			t.Fatalf("slow headers: status %d", code)
		}
		if took := time.Since(start); took < limit {
			t.Fatalf("slow headers cut off after %v, before --handshake-timeout %v", took, limit)
		}
		headers.Close()
		wg.Wait()

		body := dial()
		start = time.Now() // before the headers, after which the body's time is counted
		fmt.Fprintf(body, "POST /probe.ok/ping.json HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
		wg.Add(1)
		go func() {
			defer wg.Done()
			trickle(body, "["+strings.Repeat(" ", 998)+"]", 20*time.Millisecond)
		}()
		if code := httpClosed(t, body, start.Add(limit+connSlack), "a slow body"); code != http.StatusBadRequest {
			t.Fatalf("a slow body: status %d, want 400", code)
		}
		if took := time.Since(start); took < limit {
			t.Fatalf("a slow body cut off after %v, before --frame-timeout %v", took, limit)
		}
		body.Close()
		wg.Wait()
	})
	a.alive(t)
	a.maxRSS(t, connRSS)
}

// TestAttackHTTPConnCap holds --max-conns HTTP connections: a new one is
// closed at once while the binary protocol still serves, and once the
// held ones are closed (after --handshake-timeout, as they send no
// request) an HTTP caller gets in.
func TestAttackHTTPConnCap(t *testing.T) {
	const (
		maxConns  = 5
		handshake = time.Second
	)
	a := startTarget(t, nil, "--http", "127.0.0.1:0", "--max-conns", fmt.Sprint(maxConns), "--handshake-timeout", handshake.String())
	base := httpURL(t, a.cliServer)
	host := strings.TrimPrefix(base, "http://")
	get := func() error {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 2 * time.Second}
		resp, err := c.Get(base + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /healthz: %s", resp.Status)
		}
		return nil
	}
	// A first call, its connection closed by the server before the
	// connections that fill the slots are made: the server reads the
	// request, answers, and closes, which the end of the stream shows.
	first, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	first.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(first, "GET /healthz HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(first); err != nil || !strings.HasPrefix(string(b), "HTTP/1.1 200") {
		t.Fatalf("GET /healthz: %q, %v", b, err)
	}
	start := time.Now()
	var held []net.Conn
	for range maxConns {
		nc, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		held = append(held, nc)
	}
	a.probeDuring(t, func() {
		over, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer over.Close()
		if code := httpClosed(t, over, time.Now().Add(handshake/2), "an HTTP connection past --max-conns"); code != 0 {
			t.Fatalf("an HTTP connection past --max-conns: status %d", code)
		}
		for _, nc := range held {
			if code := httpClosed(t, nc, start.Add(handshake+connSlack), "a held HTTP connection"); code != 0 && code != http.StatusRequestTimeout {
				t.Fatalf("a held HTTP connection: status %d", code)
			}
		}
	})
	timed(t, 2*time.Second, "an HTTP caller once the held connections were closed", func() {
		if err := get(); err != nil {
			t.Fatalf("%v\n%s", err, a.log())
		}
	})
	a.alive(t)
	a.maxRSS(t, connRSS)
}

// TestAttackLongClientHello says hello with a name and a version of 35,000
// bytes each from many connections: the clients inspect command still
// answers others, with every name cut to transport.MaxHelloString.
func TestAttackLongClientHello(t *testing.T) {
	const peers = 50
	a := startTarget(t, nil)
	long := strings.Repeat("x", 35000)
	a.probeDuring(t, func() {
		for i := range peers {
			r := dialPeer(t, a.addr)
			r.send(t, &transport.Packet{Version: transport.V6, TID: int32(i), Type: transport.TypeClientHello, ClientName: long, ClientVersion: long})
			if p := r.recv(t); p.Type != transport.TypeServerHello {
				t.Fatalf("hello: got %+v", p)
			}
		}
		r := dialPeer(t, a.addr)
		timed(t, 2*time.Second, "the clients inspect command", func() {
			r.send(t, &transport.Packet{Version: transport.V6, TID: 1, Type: transport.TypeInspectReq, Command: transport.InspectClients})
			p := r.recv(t)
			if p.Type != transport.TypeInspectAck {
				t.Fatalf("inspect clients: got %+v", p)
			}
			v, err := transport.ParseEDN(p.Body)
			if err != nil {
				t.Fatal(err)
			}
			m, _ := v.(map[any]any)
			list, _ := m[transport.Keyword("connected-clients")].([]any)
			if len(list) == 0 {
				t.Fatalf("no client listed: %.200s", p.Body)
			}
			for _, ci := range list {
				c, _ := ci.(map[any]any)
				if name, _ := c[transport.Keyword("name")].(string); len(name) > transport.MaxHelloString {
					t.Fatalf("a name of %d bytes listed", len(name))
				}
			}
			t.Logf("%d clients listed in %d bytes", len(list), len(p.Body))
		})
	})
	a.alive(t)
	a.maxRSS(t, connRSS)
}

// TestAttackHalfClose sends calls that take a while, then ends its
// sending with shutdown(SHUT_WR): every answer arrives, then the server
// closes the connection.
func TestAttackHalfClose(t *testing.T) {
	const (
		calls = 20
		took  = 20 * time.Millisecond // each
	)
	a := startTarget(t, map[string]string{"slow/work.lua": fmt.Sprintf(`
return { run = function(i)
	local t = os.clock()
	while os.clock() - t < %g do end
	return i
end }
`, took.Seconds())})
	r := dialPeer(t, a.addr)
	var reqs []*transport.Packet
	for i := range calls {
		reqs = append(reqs, &transport.Packet{Version: transport.V6, TID: int32(i), Type: transport.TypeRequest,
			ContentType: transport.ContentJSON, Name: "slow.work/run", Body: []byte(fmt.Sprintf("[%d]", i))})
	}
	a.probeDuring(t, func() {
		start := time.Now()
		r.send(t, reqs...)
		if err := r.nc.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		got := make(map[int32]bool)
		for len(got) < calls {
			p := r.recv(t)
			if p.Type != transport.TypeResponse || p.Code != transport.CodeSuccess || string(p.Body) != fmt.Sprint(p.TID) {
				t.Fatalf("call %d: got %+v, body %q", p.TID, p, p.Body)
			}
			got[p.TID] = true
		}
		r.closedBy(t, start.Add(calls*took+connSlack), "a half-closed connection once answered")
	})
	a.alive(t)
	a.maxRSS(t, connRSS)
}
