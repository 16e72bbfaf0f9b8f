package transporttest

import (
	"errors"
	"net"
	"testing"

	"github.com/slacker-lua/slacker-lua/transport"
)

// StartServer serves h with cfg on a listener on 127.0.0.1:0 and returns
// the server and its address. When the test ends, the server is closed
// and Serve checked to have returned transport.ErrServerClosed.
func StartServer(t testing.TB, h transport.Handler, cfg transport.ServerConfig) (*transport.Server, string) {
	t.Helper()
	srv, err := transport.NewServer(h, cfg)
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
		if err := <-served; !errors.Is(err, transport.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return srv, ln.Addr().String()
}
