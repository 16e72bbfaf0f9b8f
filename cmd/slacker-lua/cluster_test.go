package main

import (
	"flag"
	"io"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/cluster"
)

// TestZKLayoutFlag checks --zk-layout: its values, what it makes, and
// that it goes with --zk.
func TestZKLayoutFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		ok   bool
		want cluster.Format
	}{
		{[]string{"--zk", "zk:2181", "--cluster", "c"}, true, cluster.FormatAuto},
		{[]string{"--zk", "zk:2181", "--cluster", "c", "--zk-layout", "slacker"}, true, cluster.FormatSlacker},
		{[]string{"--zk", "zk:2181", "--cluster", "c", "--zk-layout", "slacker-lua"}, true, cluster.FormatSlackerLua},
		{[]string{"--zk", "zk:2181", "--cluster", "c", "--zk-layout", "clojure"}, false, 0},
		{[]string{"--zk-layout", "slacker"}, false, 0},
	} {
		f, err := checkClusterFlags(t, tc.args)
		if (err == nil) != tc.ok {
			t.Errorf("%v: check() = %v", tc.args, err)
			continue
		}
		if got := f.config().Layout.Format; tc.ok && got != tc.want {
			t.Errorf("%v: Format %v, want %v", tc.args, got, tc.want)
		}
	}
}

// TestZKRejoinJitterFlag checks --zk-rejoin-jitter: its default, 0 for no
// wait, and a negative one refused.
func TestZKRejoinJitterFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		ok   bool
		want time.Duration
	}{
		{[]string{"--zk", "zk:2181", "--cluster", "c"}, true, cluster.DefaultRejoinJitter},
		{[]string{"--zk", "zk:2181", "--cluster", "c", "--zk-rejoin-jitter", "5s"}, true, 5 * time.Second},
		{[]string{"--zk", "zk:2181", "--cluster", "c", "--zk-rejoin-jitter", "0"}, true, -1},
		{[]string{"--zk", "zk:2181", "--cluster", "c", "--zk-rejoin-jitter", "-1s"}, false, 0},
	} {
		f, err := checkClusterFlags(t, tc.args)
		if (err == nil) != tc.ok {
			t.Errorf("%v: check() = %v", tc.args, err)
			continue
		}
		if got := f.config().RejoinJitter; tc.ok && got != tc.want {
			t.Errorf("%v: RejoinJitter %v, want %v", tc.args, got, tc.want)
		}
	}
}

// checkClusterFlags parses args as serve's cluster flags and checks them.
func checkClusterFlags(t *testing.T, args []string) (clusterFlags, error) {
	t.Helper()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var f clusterFlags
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return f, f.check()
}
