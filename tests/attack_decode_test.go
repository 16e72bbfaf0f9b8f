package tests

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/transport"
)

// The decoding attacks send bodies of the largest size the server takes
// (16 MiB) made of the values that cost most once decoded: empty maps, 64
// bytes each in Go for their one byte. Before the budget, one such body
// grew the server by 1.1 GB. The server refuses them before decoding:
// not-found for a missing function, exception "arguments too large to
// decode" for a served one.

// bodySize is a body just under the default --max-body.
const bodySize = transport.DefaultMaxBodySize - 64

// emptyMaps returns a msgpack, JSON, EDN or nippy argument array of empty
// maps, size bytes at most.
func emptyMaps(ct transport.ContentType) []byte {
	switch ct {
	case transport.ContentNippy:
		n := bodySize - 5 // a vector's id (21) and count, and n empty maps (19)
		return append([]byte{21, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, bytes.Repeat([]byte{19}, n)...)
	case transport.ContentJSON, transport.ContentEDN:
		sep := map[transport.ContentType]string{transport.ContentJSON: ",", transport.ContentEDN: " "}[ct]
		b := bytes.Repeat([]byte("{}"+sep), (bodySize-2)/3)
		b[len(b)-1] = ']'
		return append([]byte{'['}, b...)
	}
	n := bodySize - 5
	return append([]byte{0xdd, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, bytes.Repeat([]byte{0x80}, n)...)
}

// rawCall sends one request with body on a connection of its own and
// returns the answer's code and body.
func rawCall(addr, name string, ct transport.ContentType, body []byte) (transport.Code, []byte, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, nil, err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	frame, err := transport.AppendPacket(nil, &transport.Packet{Version: transport.V6, TID: 1, Type: transport.TypeRequest, ContentType: ct, Name: name, Body: body})
	if err != nil {
		return 0, nil, err
	}
	if _, err := nc.Write(frame); err != nil {
		return 0, nil, err
	}
	var p transport.Packet
	if err := transport.NewDecoder(nc, transport.Limits{}).Decode(&p); err != nil {
		return 0, nil, err
	}
	return p.Code, p.Body, nil
}

// expectRefused checks the answer of rawCall: code, and a body that says
// want when want is not "".
func expectRefused(code transport.Code, body []byte, err error, wantCode transport.Code, want string) error {
	switch {
	case err != nil:
		return err
	case code != wantCode:
		return fmt.Errorf("answered %v %q, want %v", code, body, wantCode)
	case want != "" && !bytes.Contains(body, []byte(want)):
		return fmt.Errorf("answered %q, want it to say %q", body, want)
	}
	return nil
}

// concurrently runs n copies of f and returns their first error.
func concurrently(n int, f func() error) error {
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- f()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// decodeRSSBound bounds the server's peak RSS during the decoding attacks:
// four 16 MiB bodies read at once, and the server's own 20 MiB or so.
const decodeRSSBound = 200 << 20

// TestAttackDecodeTCP sends 16 MiB bodies of empty maps, msgpack and JSON,
// to a missing function and to a served one, one and then four at once.
func TestAttackDecodeTCP(t *testing.T) {
	a := startTarget(t, nil)
	const refused = "arguments too large to decode"
	for _, ct := range []transport.ContentType{transport.ContentMsgpack, transport.ContentJSON, transport.ContentEDN, transport.ContentNippy} {
		body := emptyMaps(ct)
		a.probeDuring(t, func() {
			timed(t, 10*time.Second, "a body to nope/nope", func() {
				code, res, err := rawCall(a.addr, "nope/nope", ct, body)
				if err := expectRefused(code, res, err, transport.CodeNotFound, ""); err != nil {
					t.Fatalf("%v to nope/nope: %v", ct, err)
				}
			})
			timed(t, 10*time.Second, "a body to probe.ok/ping", func() {
				code, res, err := rawCall(a.addr, "probe.ok/ping", ct, body)
				if err := expectRefused(code, res, err, transport.CodeException, refused); err != nil {
					t.Fatalf("%v to probe.ok/ping: %v", ct, err)
				}
			})
			timed(t, 20*time.Second, "four bodies at once", func() {
				err := concurrently(4, func() error {
					code, res, err := rawCall(a.addr, "probe.ok/ping", ct, body)
					return expectRefused(code, res, err, transport.CodeException, refused)
				})
				if err != nil {
					t.Fatalf("%v, four at once: %v", ct, err)
				}
			})
		})
		a.alive(t)
		a.probe(t)
		// The bodies are garbage once refused, and the server returns
		// their memory at most once a second, the last of them when that
		// second ends.
		a.settled(t)
	}
	a.maxRSS(t, decodeRSSBound)
	t.Logf("RSS after: %d MiB", a.rss(t)>>20)
}

// TestAttackDecodeHTTP sends the same bodies over HTTP.
func TestAttackDecodeHTTP(t *testing.T) {
	a := startTarget(t, nil, "--http", "127.0.0.1:0")
	base := httpURL(t, a.cliServer)
	post := func(path string, body []byte) (int, string, string, error) {
		res, err := http.Post(base+path, "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			return 0, "", "", err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return res.StatusCode, res.Header.Get("X-Slacker-Code"), string(b), err
	}
	expect := func(path string, body []byte, status int, code, want string) error {
		st, c, msg, err := post(path, body)
		switch {
		case err != nil:
			return err
		case st != status || c != code:
			return fmt.Errorf("%s: %d %s %.200q, want %d %s", path, st, c, msg, status, code)
		case !strings.Contains(msg, want):
			return fmt.Errorf("%s: %.200q, want it to say %q", path, msg, want)
		}
		return nil
	}
	for _, ext := range []string{"msgpack", "json", "clj", "nippy"} {
		ct, err := transport.ParseContentType(ext)
		if err != nil {
			t.Fatal(err)
		}
		body := emptyMaps(ct)
		a.probeDuring(t, func() {
			timed(t, 10*time.Second, "a body to nope/nope", func() {
				if err := expect("/nope/nope."+ext, body, http.StatusNotFound, "not-found", "not found"); err != nil {
					t.Fatal(err)
				}
			})
			timed(t, 20*time.Second, "four bodies at once", func() {
				err := concurrently(4, func() error {
					return expect("/probe.ok/ping."+ext, body, http.StatusRequestEntityTooLarge, "exception", "arguments too large to decode")
				})
				if err != nil {
					t.Fatal(err)
				}
			})
		})
		a.alive(t)
		a.settled(t)
	}
	a.maxRSS(t, decodeRSSBound)
}

// settled waits until the refused bodies' memory is returned, so that the
// next attack's peak does not stand on this one's garbage.
func (a *attackTarget) settled(t *testing.T) {
	t.Helper()
	testutil.WaitFor(t, 30*time.Second, func() bool { return a.rss(t) < 128<<20 }, "RSS back under 128 MiB")
}

// TestAttackDecodeLua sends a body the transport decodes, one argument of
// 16 MiB of small integers (16 bytes each in Go, within the budget), whose
// Lua size passes
// the engine's bound: the call fails "value too large for Lua" before the
// VM holds it all.
func TestAttackDecodeLua(t *testing.T) {
	a := startTarget(t, nil)
	n := bodySize - 6
	body := append([]byte{0x91, 0xdd, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, bytes.Repeat([]byte{0x05}, n)...)
	a.probeDuring(t, func() {
		timed(t, 20*time.Second, "a body of small integers", func() {
			code, res, err := rawCall(a.addr, "probe.ok/ping", transport.ContentMsgpack, body)
			if err := expectRefused(code, res, err, transport.CodeException, "value too large for Lua"); err != nil {
				t.Fatal(err)
			}
		})
	})
	a.alive(t)
	// 16 MiB read, 256 MiB decoded, 64 MiB in Lua at most, and the
	// server's own.
	a.maxRSS(t, 450<<20)
}

// TestAttackValues: a JSON integer beyond int64 and uint64 is refused, not
// rounded, and a map whose values are all null comes back a map, over the
// binary protocol and over HTTP.
func TestAttackValues(t *testing.T) {
	a := startTarget(t, map[string]string{"attack/values.lua": "return { echo = function(x) return x end }\n"}, "--http", "127.0.0.1:0")
	base := httpURL(t, a.cliServer)
	post := func(body string) (int, string) {
		t.Helper()
		res, err := http.Post(base+"/attack.values/echo.json", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	a.probeDuring(t, func() {
		if st, body := post(`[184467440737095516160]`); st != http.StatusBadRequest && st != http.StatusInternalServerError || !strings.Contains(body, "out of range") {
			t.Errorf("an integer beyond uint64: %d %q, want a refusal saying out of range", st, body)
		}
		if st, body := post(`[9223372036854775808]`); st == http.StatusOK || !strings.Contains(body, "out of range for Lua numbers") {
			t.Errorf("2^63: %d %q, want Lua's refusal, not a rounded number", st, body)
		}
		if st, body := post(`[{"a": null, "b": null}]`); st != http.StatusOK || strings.TrimSpace(body) != "{}" {
			t.Errorf("a map of nulls: %d %q, want {}", st, body)
		}
		c := dial(t, a.addr, client.Config{})
		got, err := client.CallAs[any](context.Background(), c, "attack.values/echo", map[string]any{"a": nil})
		if m, ok := got.(map[string]any); err != nil || !ok || len(m) != 0 {
			t.Errorf("a map of nulls over TCP: %#v, %v; want an empty map", got, err)
		}
	})
	a.alive(t)
	a.maxRSS(t, 100<<20)
}
