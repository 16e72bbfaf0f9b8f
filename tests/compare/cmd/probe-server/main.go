// Command probe-server is the practical-limit probe's server (package
// internal/probe): add and echo over length + id framed requests, in Go,
// or with -lua in a gopher-lua VM per connection. It prints the address it
// listens at as its first line of output, and serves until SIGTERM.
package main

import (
	"flag"
	"net"

	"github.com/slacker-lua/slacker-lua/tests/compare/internal/probe"
	"github.com/slacker-lua/slacker-lua/tests/compare/internal/serve"
)

func main() {
	var useLua bool
	serve.Main("probe-server", func(fs *flag.FlagSet) {
		fs.BoolVar(&useLua, "lua", false, "run add and echo in gopher-lua rather than Go")
	}, func() (func(net.Listener) error, func(), error, error) {
		srv := &probe.Server{Lua: useLua}
		return srv.Serve, func() { srv.Close() }, probe.ErrServerClosed, nil
	})
}
