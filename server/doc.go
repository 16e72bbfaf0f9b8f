// Package server assembles a whole slacker-lua server: the namespaces of
// a folder (package namespaces), followed as files come and go, served
// over slacker's binary protocol (package transport) and, optionally,
// over HTTP with metrics and health endpoints (packages gateway and
// metrics), registered in a slacker cluster (package cluster), with Go
// functions beside the Lua ones. It is what `slacker-lua serve` runs,
// for Go programs that embed the server.
//
//	srv, err := server.New(server.Config{Dir: "lua", Addr: "127.0.0.1:2104"})
//	if err != nil {
//		return err // every configuration error is reported here
//	}
//	ran := make(chan error, 1)
//	go func() { ran <- srv.Run(ctx) }()
//	...
//	srv.Shutdown(ctx) // leave the cluster, drain, stop
//	<-ran             // ErrServerClosed
//
// A server is built by [New] from a [Config] whose zero value serves the
// current directory on 127.0.0.1:2104. [Server.Run] loads the folder,
// listens, joins the cluster and serves until its context ends, a
// listener fails, or [Server.Shutdown] or [Server.Close] is called.
// Shutdown's order is given at [Server].
//
// Inside a server, Lua's slacker.call reaches the namespaces served
// there and, in a cluster, the others through a cluster client; a
// stateful namespace's calls always go through the cluster client, to
// its leader.
//
// The server logs through Config.Logger, with log/slog. Its keys are
// words joined by underscores, never spaces ("serving_for"), and its
// durations are Go duration strings ("1.5s", "250ms"), as slog's text
// handler writes them, so that text and JSON logs read alike and a
// collector parses them with time.ParseDuration.
package server
