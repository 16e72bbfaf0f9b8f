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
	"runtime/pprof"
	"syscall"
)

// Main parses the command line with the -listen flag (127.0.0.1:0 by
// default) and any flags added by flags, and calls start, which sets the
// server up and returns its serve and stop. It listens, prints the address
// as its first line of output, where the harness reads it, and serves
// until SIGINT or SIGTERM, when it calls stop. With -cpuprofile it
// profiles the run, to see where a server spends its time under the
// harness's load. A serve error other than
// done, the error serve returns once stopped, ends the process with
// status 1.
func Main(name string, flags func(fs *flag.FlagSet), start func() (serve func(net.Listener) error, stop func(), done error, err error)) {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "the address to listen at")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
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
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fail(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fail(err)
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
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
