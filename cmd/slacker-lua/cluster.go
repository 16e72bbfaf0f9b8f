package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
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
	advertise  string
	leaveDelay time.Duration
	session    time.Duration
	weight     int
	data       string
	authFile   string
	auth       cluster.Auth // read from authFile by check
}

func (f *clusterFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.zk, "zk", "", "ZooKeeper servers, `host:port[,host:port...]`: register the namespaces served there (needs --cluster)")
	fs.StringVar(&f.cluster, "cluster", "", "the cluster's `name`, with --zk")
	fs.StringVar(&f.root, "zk-root", cluster.DefaultRoot, "the znode the clusters are registered under; /slacker/cluster gives slacker cluster's layout")
	fs.StringVar(&f.advertise, "advertise", "", "the `host:port` clients reach this server at, with --zk (default: the --listen address, or an address of this host when that is a wildcard)")
	fs.DurationVar(&f.leaveDelay, "leave-delay", time.Second, "how long to go on serving after leaving the cluster on SIGINT or SIGTERM, and a namespace after unregistering it when its file is gone, for clients to see it")
	fs.DurationVar(&f.session, "zk-session-timeout", cluster.DefaultSessionTimeout, "how long ZooKeeper keeps the server's registrations when it can't reach the server")
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
	case f.weight < 1:
		return fmt.Errorf("bad --weight %d: want 1 or more", f.weight)
	case f.zk == "" && f.data != "":
		return errors.New("--server-data goes with --zk")
	case f.zk == "" && f.authFile != "":
		return errors.New("--zk-auth goes with --zk")
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
	return server.ClusterConfig{
		ZooKeeper:      strings.Split(f.zk, ","),
		Layout:         cluster.Layout{Root: f.root, Cluster: f.cluster},
		Advertise:      f.advertise,
		LeaveDelay:     f.leaveDelay,
		SessionTimeout: f.session,
		Weight:         f.weight,
		Data:           data,
		Auth:           f.auth,
	}
}
