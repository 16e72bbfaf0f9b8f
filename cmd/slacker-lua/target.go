package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/slacker-lua/slacker-lua/cluster"
)

// The environment variables that name what the client commands talk to
// when the command line does not.
const (
	envAddr    = "SLACKER_ADDR"    // the server, for a missing ADDR
	envZK      = "SLACKER_ZK"      // ZooKeeper, for a missing ADDR and --zk
	envCluster = "SLACKER_CLUSTER" // the cluster, for a missing --cluster
)

// envHelp tells, in the help of the commands that talk to a server, how
// they find it.
const envHelp = "ADDR is the server's host:port. It may be left out when $" + envAddr + " is set:\n" +
	"a first argument that is not host:port is then the next one, as in\n" +
	"`SLACKER_ADDR=127.0.0.1:2104 slacker-lua call ns/fn`. Where --zk is a flag,\n" +
	"$" + envZK + " stands for a missing ADDR and --zk (after $" + envAddr + "), and $" + envCluster + "\n" +
	"for a missing --cluster. ADDR and flags on the command line win over the\n" +
	"environment."

// looksLikeAddr reports whether a command's first argument is ADDR: a
// host:port, which no namespace name or function is.
func looksLikeAddr(s string) bool {
	return strings.Contains(s, ":") && !strings.ContainsAny(s, "/{[\"")
}

// clusterTarget is the flags that name a cluster in ZooKeeper instead of
// a server: --zk, --cluster and --zk-root.
type clusterTarget struct {
	zk, name, root string
}

func (t *clusterTarget) register(fs *flag.FlagSet, use string) {
	fs.StringVar(&t.zk, "zk", "", "ZooKeeper's `host:port,...`: "+use+" (default $"+envZK+" when there is no ADDR)")
	fs.StringVar(&t.name, "cluster", "", "the cluster's `name`, with --zk (default $"+envCluster+")")
	fs.StringVar(&t.root, "zk-root", cluster.DefaultRoot, "the znode the clusters are registered under, with --zk")
}

// check checks the flags of fs, once parsed and t.zk set from the
// environment if it is to be, and takes a missing --cluster from the
// environment.
func (t *clusterTarget) check(fs *flag.FlagSet) error {
	if t.zk != "" && t.name == "" {
		t.name = os.Getenv(envCluster)
	}
	switch {
	case t.zk != "" && t.name == "":
		return fmt.Errorf("--zk needs --cluster (or $%s)", envCluster)
	case t.zk == "" && (isSet(fs, "cluster") || isSet(fs, "zk-root")):
		return errors.New("--cluster and --zk-root go with --zk")
	}
	return nil
}

// layout is where the cluster is in ZooKeeper.
func (t *clusterTarget) layout() cluster.Layout {
	return cluster.Layout{Root: t.root, Cluster: t.name}
}

// noCluster is the error of a cluster with no namespace in ZooKeeper,
// naming the clusters c finds there.
func noCluster(ctx context.Context, c *cluster.Client, t clusterTarget) error {
	others, _ := c.Clusters(ctx)
	there := "there is no other"
	if others = slices.DeleteFunc(others, func(s string) bool { return s == t.name }); len(others) > 0 {
		there = "there are " + strings.Join(others, ", ")
	}
	return fmt.Errorf("no cluster %q under %s in ZooKeeper at %s: no server of it has registered a namespace, and %s (check --cluster and --zk-root, and that its servers run with --zk)", t.name, t.root, t.zk, there)
}
