package client

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/slacker-lua/slacker-lua/transport"
	"github.com/slacker-lua/slacker-lua/transport/transporttest"
)

// serveWith serves transporttest's handler with cfg, over TLS if tlsCfg is
// set, until the test ends, and returns its address.
func serveWith(t *testing.T, cfg transport.ServerConfig, tlsCfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	srv, err := transport.NewServer(&transporttest.Handler{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.Serve(ln); close(done) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return ln.Addr().String()
}

// TestErrorTexts checks what each error the server answers reads like,
// and that it matches its sentinel.
func TestErrorTexts(t *testing.T) {
	plain := serveWith(t, transport.ServerConfig{Limits: transport.Limits{MaxBodySize: 2 * largeBody}}, nil)
	tokens := serveWith(t, transport.ServerConfig{Authenticate: func(tok string) bool { return tok == "right" }}, nil)
	big := strings.Repeat("x", 3*largeBody)
	for _, tc := range []struct {
		name, addr, token, fn string
		args                  []any
		sentinel              error
		want                  string
	}{
		{"not found", plain, "", "t/nope", nil, ErrNotFound, "client: t/nope: not found"},
		{"exception", plain, "", "t/add", []any{"x"}, ErrException, "client: t/add: exception: add: string is not an integer"},
		{"body too large", plain, "", "t/echo", []any{big}, ErrInvalidPacket,
			"client: t/echo: invalid packet: request body larger than the server accepts (196612 bytes; see its --max-body)"},
		{"wrong token", tokens, "wrong", "t/add", nil, ErrACLReject,
			"client: t/add: acl reject: the server refused this client's token: check it against the server's tokens (Config.Token; the CLI's --token-file)"},
		{"no token", tokens, "", "t/add", nil, ErrACLReject,
			"client: t/add: acl reject: the server wants a token, and this client has none (Config.Token; the CLI's --token-file)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, tc.addr, Config{Token: tc.token})
			_, err := c.Call(context.Background(), tc.fn, tc.args...)
			var re *RemoteError
			if !errors.Is(err, tc.sentinel) || !errors.As(err, &re) || re.Name != tc.fn {
				t.Fatalf("%v: not %v, or no RemoteError naming %s", err, tc.sentinel, tc.fn)
			}
			if err.Error() != tc.want {
				t.Errorf("%q\nwant %q", err.Error(), tc.want)
			}
		})
	}
}

// TestPlainClientOfTLSServer checks that a client without TLS says that
// its server speaks TLS, rather than that the connection was lost.
func TestPlainClientOfTLSServer(t *testing.T) {
	hs := httptest.NewUnstartedServer(nil)
	hs.StartTLS()
	certs := hs.TLS.Certificates
	hs.Close()
	addr := serveWith(t, transport.ServerConfig{}, &tls.Config{Certificates: certs})
	c, err := Dial(context.Background(), addr, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Call(context.Background(), "t/add", 1, 2)
	want := "client: connection lost: the server at " + addr + " speaks TLS, and this client does not: set Config.TLS (the CLI's --tls-ca)"
	if !errors.Is(err, ErrServerTLS) || !errors.Is(err, ErrConnLost) || err.Error() != want {
		t.Fatalf("%v\nwant %s", err, want)
	}
}
