// Package serve is what the comparison's server commands share: listen,
// say where, serve until SIGINT or SIGTERM.
package serve

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
)

// Main parses the command line with the -listen flag (127.0.0.1:0 by
// default) and any flags added by flags, and calls start, which sets the
// server up and returns its serve and stop. It listens, prints the address
// as its first line of output, where the harness reads it, and serves
// until SIGINT or SIGTERM, when it calls stop. A serve error other than
// done, the error serve returns once stopped, ends the process with
// status 1.
func Main(name string, flags func(fs *flag.FlagSet), start func() (serve func(net.Listener) error, stop func(), done error, err error)) {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "the address to listen at")
	if flags != nil {
		flags(fs)
	}
	fs.Parse(os.Args[1:])
	fail := func(err error) {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
	serveFn, stop, done, err := start()
	if err != nil {
		fail(err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fail(err)
	}
	fmt.Println(ln.Addr())
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	go func() {
		<-ctx.Done()
		stop()
	}()
	if err := serveFn(ln); err != nil && err != done {
		fail(err)
	}
}
