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
	cmd := newClientCommand("console", "[flags] --zk HOST:PORT,... --cluster NAME | URL",
		"Serves a web console of a cluster, from what its servers publish in ZooKeeper,\n"+
			"or of one server, by the URL of its HTTP listener (serve --http), http://host:port:\n"+
			"its namespaces, each with its servers, the version each serves, its leader\n"+
			"and its functions with their docs, searchable; its servers, with what is\n"+
			"offline and the files failing to load; the calls, errors and latencies of\n"+
			"each, charted from the servers' /metrics (of those served with --http); and\n"+
			"a form to call a function. With --admin-token-file it offers the actions of\n"+
			"`slacker-lua admin`, to those who give it a token of the file. With\n"+
			"--token-file it gives the file's first token to the\n"+
			"servers, and asks its own users for a token of the file. It listens on\n"+
			"loopback unless --listen says otherwise, and serves until interrupted.", stdout, stderr)
	cmd.withCluster("show the --cluster found there")
	cmd.withURL()
	listen := cmd.fs.String("listen", defaultConsoleAddr, "the `host:port` the console listens at")
	adminFile := cmd.fs.String("admin-token-file", "", "`file` of admin tokens: the console offers offline, online and weight, each asking its user for a token of the file, and gives the servers' admin endpoints the file's first")
	every := cmd.fs.Duration("every", console.DefaultEvery, "how often to read every server's /metrics for the charts")
	rest, code, ok := cmd.parse(args)
	if !ok {
		return code
	}
	switch {
	case len(rest) > 0 || cmd.addr != "":
		return cmd.usage("want no ADDR: the console shows a cluster, or a server by the URL of its HTTP listener, http://host:port (got %s)", strings.TrimSpace(strings.Join(append([]string{cmd.addr}, rest...), " ")))
	case cmd.cluster.zk == "" && cmd.url == "":
		return cmd.usage("want --zk and --cluster, or the URL of a server's HTTP listener")
	}
	cfg := console.Config{Every: *every}
	var err error
	if cfg.Authenticate, err = tokenCheck("--token-file", cmd.flags.security.tokenFile); err != nil {
		return cmd.usage("%v", err)
	}
	if *adminFile != "" {
		admin := clientSecurity{tokenFile: *adminFile}
		if cfg.AdminToken, err = admin.token(); err != nil {
			return cmd.usage("%v", strings.Replace(err.Error(), "--token-file", "--admin-token-file", 1))
		}
		// The page asks its user for a token of the file too: reaching
		// the console is not enough to act.
		if cfg.AdminAuthenticate, err = tokenCheck("--admin-token-file", *adminFile); err != nil {
			return cmd.usage("%v", err)
		}
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	cfg.Logger = log
	// The servers' HTTP listeners are reached with the TLS of the flags,
	// as their binary protocol is.
	tlsCfg, err := cmd.flags.security.tlsConfig()
	if err != nil {
		return cmd.usage("%v", err)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsCfg
	cfg.HTTP = &http.Client{Timeout: console.DefaultTimeout, Transport: transport, CheckRedirect: console.NoRedirects}
	if cfg.ServerToken, err = cmd.flags.security.token(); err != nil {
		return cmd.usage("%v", err)
	}
	if cmd.url != "" {
		g, err := console.NewGateway(cmd.url, cfg.HTTP, cfg.ServerToken)
		if err != nil {
			return cmd.usage("%v", err)
		}
		cfg.Cluster = g
	} else {
		c, code := cmd.connectCluster(ctx)
		if c == nil {
			return code
		}
		defer c.Close()
		cfg.Cluster = c
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		cmd.fail(err)
		return exitError
	}
	bound := ln.Addr().(*net.TCPAddr)
	if bound.IP.IsLoopback() {
		cfg.Hosts = console.LoopbackHosts()
	}
	h, err := console.New(cfg)
	if err != nil {
		ln.Close()
		return cmd.usage("%v", err)
	}
	defer h.Close()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("serving", "addr", bound.String(), "url", "http://"+bound.String()+"/", "admin", cfg.AdminToken != "", "token", cfg.Authenticate != nil)
	if !bound.IP.IsLoopback() {
		warn := "the console is served beyond loopback, without TLS"
		if cfg.Authenticate == nil {
			warn += ", to anyone: give --token-file to ask for a token"
		}
		log.Warn(warn, "addr", bound.String())
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
