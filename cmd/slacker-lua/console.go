package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/slacker-lua/slacker-lua/console"
)

// defaultConsoleAddr is the default of console's --listen.
const defaultConsoleAddr = "127.0.0.1:2110"

func runConsole(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := newClientCommand("console", "[flags] --zk HOST:PORT,... --cluster NAME",
		"Serves a web console of a cluster, from what its servers publish in ZooKeeper:\n"+
			"its namespaces, each with its servers, the version each serves, its leader\n"+
			"and its functions with their docs, searchable. It listens on loopback unless\n"+
			"--listen says otherwise, and serves until interrupted.", stdout, stderr)
	cmd.withCluster("show the --cluster found there")
	listen := cmd.fs.String("listen", defaultConsoleAddr, "the `host:port` the console listens at")
	rest, code, ok := cmd.parse(args)
	if !ok {
		return code
	}
	switch {
	case len(rest) > 0 || cmd.addr != "":
		return cmd.usage("want no ADDR: the console shows a cluster (got %s)", strings.Join(append([]string{cmd.addr}, rest...), " "))
	case cmd.cluster.zk == "":
		return cmd.usage("want --zk and --cluster")
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	c, code := cmd.connectCluster(ctx)
	if c == nil {
		return code
	}
	defer c.Close()
	h, err := console.NewHandler(console.Config{Cluster: c, Logger: log})
	if err != nil {
		cmd.fail(err)
		return exitError
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		cmd.fail(err)
		return exitError
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	bound := ln.Addr().(*net.TCPAddr)
	log.Info("serving", "addr", bound.String(), "url", "http://"+bound.String()+"/")
	if !bound.IP.IsLoopback() {
		log.Warn("the console is served beyond loopback, to anyone, without TLS or tokens", "addr", bound.String())
	}
	select {
	case err := <-served:
		cmd.fail(err)
		return exitError
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil {
		srv.Close()
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		cmd.fail(err)
		return exitError
	}
	return exitOK
}
