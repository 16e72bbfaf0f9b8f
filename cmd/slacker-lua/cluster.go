package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/slacker-lua/slacker-lua/cluster"
	"github.com/slacker-lua/slacker-lua/server"
)

// clusterFlags are serve's flags for joining a cluster.
type clusterFlags struct {
	zk         string
	cluster    string
	root       string
	layout     string
	advertise  string
	leaveDelay time.Duration
	session    time.Duration
	jitter     time.Duration
	weight     int
	data       string
	authFile   string
	auth       cluster.Auth // read from authFile by check
}

func (f *clusterFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.zk, "zk", "", "ZooKeeper servers, `host:port[,host:port...]`: register the namespaces served there (needs --cluster)")
	fs.StringVar(&f.cluster, "cluster", "", "the cluster's `name`, with --zk")
	fs.StringVar(&f.root, "zk-root", cluster.DefaultRoot, "the znode the clusters are registered under; "+cluster.SlackerRoot+" is slacker cluster's")
	fs.StringVar(&f.layout, "zk-layout", "auto", "the `layout` written in ZooKeeper: slacker-lua (slacker-lua's alone), slacker (slacker cluster's beside it, which its clients read: EDN server data, functions/ nodes, a leader for every namespace), or auto: slacker under "+cluster.SlackerRoot+", slacker-lua elsewhere")
	fs.StringVar(&f.advertise, "advertise", "", "the `host:port` clients reach this server at, with --zk (default: the --listen address, or an address of this host when that is a wildcard)")
	fs.DurationVar(&f.leaveDelay, "leave-delay", time.Second, "how long to go on serving after leaving the cluster on SIGINT or SIGTERM, and a namespace after unregistering it when its file is gone, for clients to see it")
	fs.DurationVar(&f.session, "zk-session-timeout", cluster.DefaultSessionTimeout, "how long ZooKeeper keeps the server's registrations when it can't reach the server")
	fs.DurationVar(&f.jitter, "zk-rejoin-jitter", cluster.DefaultRejoinJitter, "the most the server waits, at random, before it registers again in a new ZooKeeper session (its last expired), so that servers that lost their sessions together come back spread out; 0 registers at once")
	fs.IntVar(&f.weight, "weight", 1, "the server's share of calls for cluster clients that weigh servers, with --zk")
	fs.StringVar(&f.data, "server-data", "", "a JSON `object` published with the server in ZooKeeper, with --zk")
	fs.StringVar(&f.authFile, "zk-auth", "", "`file` of the cluster's ZooKeeper credentials, one user:password line, mode 0600 or 0640: the server authenticates with them (digest) and makes the cluster's nodes readable by all, writable by that identity only")
}

// check reports flags that don't go together.
func (f *clusterFlags) check() error {
	switch {
	case f.zk == "" && f.cluster != "":
		return errors.New("--cluster goes with --zk")
	case f.zk != "" && f.cluster == "":
		return errors.New("--zk needs --cluster")
	case f.zk == "" && f.advertise != "":
		return errors.New("--advertise goes with --zk")
	case f.leaveDelay < 0:
		return fmt.Errorf("bad --leave-delay %v: want 0 or more", f.leaveDelay)
	case f.session <= 0:
		return fmt.Errorf("bad --zk-session-timeout %v: want a positive duration", f.session)
	case f.jitter < 0:
		return fmt.Errorf("bad --zk-rejoin-jitter %v: want 0 or more", f.jitter)
	case f.weight < 1:
		return fmt.Errorf("bad --weight %d: want 1 or more", f.weight)
	case f.zk == "" && f.data != "":
		return errors.New("--server-data goes with --zk")
	case f.zk == "" && f.authFile != "":
		return errors.New("--zk-auth goes with --zk")
	case f.zk == "" && f.layout != "auto":
		return errors.New("--zk-layout goes with --zk")
	}
	if _, err := cluster.ParseFormat(f.layout); err != nil {
		return fmt.Errorf("bad --zk-layout %q: want auto, slacker-lua or slacker", f.layout)
	}
	if f.authFile != "" {
		a, err := cluster.ReadAuthFile(f.authFile)
		if err != nil {
			return fmt.Errorf("--zk-auth: %w", err)
		}
		f.auth = a
	}
	if f.data != "" {
		if err := json.Unmarshal([]byte(f.data), new(map[string]any)); err != nil {
			return fmt.Errorf("bad --server-data: want a JSON object: %v", err)
		}
	}
	return nil
}

// config returns the cluster's part of a server's configuration, once
// check has passed.
func (f *clusterFlags) config() server.ClusterConfig {
	if f.zk == "" {
		return server.ClusterConfig{}
	}
	var data map[string]any
	if f.data != "" {
		json.Unmarshal([]byte(f.data), &data) // checked by check
	}
	format, _ := cluster.ParseFormat(f.layout) // checked by check
	jitter := f.jitter
	if jitter == 0 {
		jitter = -1 // at once; 0 means the default to cluster.MemberConfig
	}
	return server.ClusterConfig{
		ZooKeeper:      strings.Split(f.zk, ","),
		Layout:         cluster.Layout{Root: f.root, Cluster: f.cluster, Format: format},
		Advertise:      f.advertise,
		LeaveDelay:     f.leaveDelay,
		SessionTimeout: f.session,
		RejoinJitter:   jitter,
		Weight:         f.weight,
		Data:           data,
		Auth:           f.auth,
	}
}

// inspectCluster prints the namespaces of the cluster that PREFIX (or
// all) matches, from what their servers publish in ZooKeeper: a line of
// servers for each, then its functions, as the first server runs them;
// then, unless PREFIX names functions (NS/FN), a line for each of those
// servers, with its data.
func inspectCluster(ctx context.Context, cmd *clientCommand, prefix string, stdout io.Writer) int {
	c, code := cmd.connectCluster(ctx)
	if c == nil {
		return code
	}
	defer c.Close()
	nss, err := c.Namespaces(ctx)
	if err != nil {
		cmd.fail(err)
		return exitError
	}
	if len(nss) == 0 {
		cmd.fail(noCluster(ctx, c, cmd.cluster))
		return exitError
	}
	nsPrefix, fnPrefix, oneNS := strings.Cut(prefix, "/")
	seen := make(map[string]bool)
	for _, ns := range nss {
		if oneNS && ns != nsPrefix || !strings.HasPrefix(ns, nsPrefix) {
			continue
		}
		servers, err := c.Servers(ctx, ns)
		if err != nil {
			cmd.fail(err)
			return exitError
		}
		if len(servers) == 0 {
			fmt.Fprintf(stdout, "# %s: no server\n", ns)
			continue
		}
		var line []string
		for _, s := range servers {
			seen[s.Addr] = true
			desc := s.Addr
			if v := short(s.Namespace.Version); v != "" {
				desc += " " + v
			}
			if s.Leader {
				desc += " leader"
			}
			line = append(line, desc)
		}
		fmt.Fprintf(stdout, "# %s: %s\n", ns, strings.Join(line, ", "))
		first := servers[0].Namespace
		for _, f := range first.Functions {
			if strings.HasPrefix(f.Name, fnPrefix) {
				printFunction(stdout, ns+"/"+f.Name, f.Params, f.Doc)
			}
		}
		if first.Truncated {
			fmt.Fprintf(stdout, "# %s: too much to publish in ZooKeeper: inspect %s for the rest\n", ns, servers[0].Addr)
		}
	}
	if oneNS {
		return exitOK // functions asked for
	}
	for _, addr := range slices.Sorted(maps.Keys(seen)) {
		d, ok, err := c.ServerData(ctx, addr)
		if err != nil {
			cmd.fail(err)
			return exitError
		}
		fmt.Fprintf(stdout, "# server %s: %s\n", addr, describeServer(d, ok))
	}
	return exitOK
}

// describeServer is inspect's account of a server's data: what of its
// version, weight, start and data it publishes.
func describeServer(d cluster.ServerData, ok bool) string {
	if !ok {
		return "gone"
	}
	var parts []string
	if d.Version != "" {
		parts = append(parts, "version "+d.Version)
	}
	if d.Weight != 0 {
		parts = append(parts, fmt.Sprintf("weight %d", d.Weight))
	}
	if !d.StartedAt.IsZero() {
		parts = append(parts, "started "+d.StartedAt.UTC().Format(time.RFC3339))
	}
	if len(d.Data) > 0 {
		b, err := json.Marshal(jsonable(d.Data))
		if err != nil {
			b = []byte(fmt.Sprint(d.Data))
		}
		parts = append(parts, "data "+string(b))
	}
	if len(parts) == 0 {
		return "no data"
	}
	return strings.Join(parts, ", ")
}
