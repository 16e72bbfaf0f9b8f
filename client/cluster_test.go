package client

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/slacker-lua/slacker-lua/cluster"
)

func TestPickers(t *testing.T) {
	servers := []string{"a:1", "b:1", "c:1"}
	var rr RoundRobin
	var got []string
	for range 6 {
		s, err := rr.Pick(servers)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	if strings.Join(got, " ") != "a:1 b:1 c:1 a:1 b:1 c:1" {
		t.Fatalf("round robin: %v", got)
	}
	seen := map[string]bool{}
	for range 100 {
		s, _ := Random{}.Pick(servers)
		seen[s] = true
	}
	if len(seen) != 3 {
		t.Fatalf("random picked %v", seen)
	}
	for _, p := range []Picker{Random{}, &rr} {
		if _, err := p.Pick(nil); !errors.Is(err, ErrNotFound) {
			t.Errorf("%T of none: %v", p, err)
		}
	}
}

func TestClusterConfig(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		cfg ClusterConfig
		msg string
	}{
		{ClusterConfig{Layout: cluster.Layout{Cluster: "c"}}, "names no server"},
		{ClusterConfig{ZooKeeper: []string{"127.0.0.1:1"}}, "can't name a znode"},
		{ClusterConfig{ZooKeeper: []string{"127.0.0.1:1"}, Layout: cluster.Layout{Root: "slacker", Cluster: "c"}}, "want an absolute znode path"},
		{ClusterConfig{ZooKeeper: []string{"127.0.0.1:1"}, Layout: cluster.Layout{Cluster: "c"}, SessionTimeout: -1}, "is negative"},
	} {
		if _, err := NewCluster(ctx, tt.cfg); err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%+v: %v, want %q", tt.cfg, err, tt.msg)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := NewCluster(cctx, ClusterConfig{ZooKeeper: []string{"127.0.0.1:1"}, Layout: cluster.Layout{Cluster: "c"}}); !errors.Is(err, context.Canceled) {
		t.Errorf("no ZooKeeper, ctx done: %v", err)
	}
}
