package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/cluster"
	"github.com/slacker-lua/slacker-lua/internal/zkrun"
	"github.com/slacker-lua/slacker-lua/namespaces"
	"github.com/slacker-lua/slacker-lua/server"
)

const devHelp = "Runs a cluster on this machine, to try it: a ZooKeeper from Debian's zookeeper\n" +
	"package (" + zkrun.Jar + ") on a free loopback port, with its data in a\n" +
	"temporary folder, and --servers servers of DIR, on free loopback ports, in one\n" +
	"cluster. It prints the addresses and commands to try, and runs until SIGINT\n" +
	"(Ctrl-C) or SIGTERM, then stops the servers and ZooKeeper and deletes the\n" +
	"folder. Each server follows DIR's changes as serve does. Not for production:\n" +
	"see CLUSTER.md, \"Running ZooKeeper\"."

// devStartTimeout bounds dev's start: ZooKeeper's, then the servers'
// registrations.
const devStartTimeout = 60 * time.Second

// devStopTimeout bounds the servers' graceful stop.
const devStopTimeout = 10 * time.Second

// runDev runs a local cluster of DIR until ctx ends (SIGINT or SIGTERM).
func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("dev", "[flags] DIR", devHelp, stderr)
	n := fs.Int("servers", 3, "how many servers of DIR to run")
	name := fs.String("cluster", "dev", "the cluster's `name`")
	logLevel := fs.String("log-level", "warn", "the servers' log level, on stderr: debug, info, warn or error")
	if code, done := parseCommandLine(fs, args, stdout, nargs{1, 1, "exactly one folder to serve, such as examples/lua"}); done {
		return code
	}
	usage := func(err error) int { return usageError(stderr, "dev", "%v", err) }
	if *n < 1 {
		return usage(fmt.Errorf("bad --servers %d: want 1 or more", *n))
	}
	layout := cluster.Layout{Cluster: *name}
	if err := layout.Check(); err != nil {
		return usage(fmt.Errorf("bad --cluster %q: %v", *name, err))
	}
	dir := fs.Arg(0)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return usage(fmt.Errorf("%s is not a folder", dir))
	}
	log, err := newLogger(stderr, "text", *logLevel)
	if err != nil {
		return usage(err)
	}
	d := &devCluster{dir: dir, layout: layout, log: log, stdout: stdout}
	defer d.stop()
	if err := d.start(ctx, *n); err != nil {
		if ctx.Err() != nil {
			return exitOK // stopped while starting
		}
		fmt.Fprintln(stderr, "slacker-lua dev:", err)
		return exitError
	}
	select {
	case <-ctx.Done():
		return exitOK
	case err := <-d.failed:
		fmt.Fprintln(stderr, "slacker-lua dev: a server stopped:", err)
		return exitError
	}
}

// devCluster is what dev runs: a ZooKeeper with its data in tmp, and
// servers of dir.
type devCluster struct {
	dir    string
	layout cluster.Layout
	log    *slog.Logger
	stdout io.Writer

	tmp     string
	zk      *zkrun.Server
	servers []*server.Server
	ran     []chan error // each server's Run's
	failed  chan error   // a server's Run that ended early
}

// start starts ZooKeeper and n servers, waits until every server has
// registered every namespace, and prints what to try.
func (d *devCluster) start(ctx context.Context, n int) error {
	ctx, cancel := context.WithTimeout(ctx, devStartTimeout)
	defer cancel()
	tmp, err := os.MkdirTemp("", "slacker-lua-dev-")
	if err != nil {
		return err
	}
	d.tmp = tmp
	d.zk, err = zkrun.Start(ctx, zkrun.Config{Dir: tmp})
	if err != nil {
		return err
	}
	fmt.Fprintf(d.stdout, "zookeeper %s (pid %d), data in %s\n", d.zk.Addr, d.zk.Pid(), tmp)

	d.failed = make(chan error, n)
	for i := range n {
		srv, err := server.New(server.Config{
			Dir:  d.dir,
			Addr: "127.0.0.1:0",
			HTTP: "127.0.0.1:0", // for the console's figures, which it publishes
			Cluster: server.ClusterConfig{
				ZooKeeper: []string{d.zk.Addr},
				Layout:    d.layout,
			},
			Logger: d.log.With("server", i+1),
		})
		if err != nil {
			return err
		}
		ran := make(chan error, 1)
		go func() {
			err := srv.Run(context.Background())
			ran <- err
			if !errors.Is(err, server.ErrServerClosed) {
				d.failed <- err
			}
		}()
		d.servers, d.ran = append(d.servers, srv), append(d.ran, ran)
		select {
		case <-srv.Ready():
		case err := <-d.failed:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
		fmt.Fprintf(d.stdout, "server %s\n", srv.Addr())
	}
	example, err := d.await(ctx)
	if err != nil {
		return err
	}
	zk, c := d.zk.Addr, d.layout.Cluster
	fmt.Fprintf(d.stdout, "cluster %s: %d servers of %s, registered in ZooKeeper\n\n", c, n, d.dir)
	fmt.Fprintf(d.stdout, "Try:\n")
	fmt.Fprintf(d.stdout, "  slacker-lua inspect --zk %s --cluster %s\n", zk, c)
	if example != "" {
		fmt.Fprintf(d.stdout, "  slacker-lua call --zk %s --cluster %s %s\n", zk, c, example)
		fmt.Fprintf(d.stdout, "  slacker-lua call %s %s\n", d.servers[0].Addr(), example)
	}
	fmt.Fprintf(d.stdout, "  slacker-lua console --zk %s --cluster %s\n", zk, c)
	fmt.Fprintf(d.stdout, "\nCtrl-C stops the servers and ZooKeeper, and deletes %s.\n", tmp)
	return nil
}

// await waits until ZooKeeper lists every server under every namespace
// the first serves, and a leader for each stateful one, and returns an
// example call: the first function of the first namespace that is not
// stateful, with its parameters' names, in capitals, for arguments.
func (d *devCluster) await(ctx context.Context) (string, error) {
	first, err := client.Dial(ctx, d.servers[0].Addr().String(), client.Config{})
	if err != nil {
		return "", err
	}
	nss, err := client.CallAs[[]served](ctx, first, namespaces.StatusNamespace+"/namespaces")
	first.Close()
	if err != nil {
		return "", fmt.Errorf("listing the namespaces served: %w", err)
	}
	slices.SortFunc(nss, func(a, b served) int { return strings.Compare(a.Namespace, b.Namespace) })
	c, err := cluster.NewClient(ctx, cluster.ClientConfig{ZooKeeper: []string{d.zk.Addr}, Layout: d.layout})
	if err != nil {
		return "", err
	}
	defer c.Close()
	var example string
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for _, s := range nss {
		if s.Namespace == namespaces.StatusNamespace {
			continue
		}
		for {
			srvs, err := c.Servers(ctx, s.Namespace)
			if err == nil && len(srvs) == len(d.servers) && (!srvs[0].Namespace.Stateful || slices.ContainsFunc(srvs, func(s cluster.Server) bool { return s.Leader })) {
				if nd := srvs[0].Namespace; example == "" && !nd.Stateful && len(nd.Functions) > 0 {
					f := nd.Functions[0]
					example = s.Namespace + "/" + f.Name
					for _, p := range f.Params {
						example += " " + strings.ToUpper(p)
					}
				}
				break
			}
			select {
			case <-ctx.Done():
				return "", fmt.Errorf("waiting for the servers of %s in ZooKeeper: %w", s.Namespace, ctx.Err())
			case <-tick.C:
			}
		}
	}
	return example, nil
}

// stop stops the servers, then ZooKeeper, and deletes the temporary
// folder.
func (d *devCluster) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), devStopTimeout)
	defer cancel()
	for _, srv := range d.servers {
		go srv.Shutdown(ctx)
	}
	for _, ran := range d.ran {
		<-ran
	}
	if d.zk != nil {
		d.zk.Stop()
	}
	if d.tmp != "" {
		if err := os.RemoveAll(d.tmp); err != nil {
			d.log.Error("cannot delete ZooKeeper's data", "err", err)
		}
	}
	if d.zk != nil {
		fmt.Fprintf(d.stdout, "stopped %d servers and ZooKeeper, deleted %s\n", len(d.servers), d.tmp)
	}
}
