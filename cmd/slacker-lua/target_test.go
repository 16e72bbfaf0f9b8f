package main

import (
	"io"
	"reflect"
	"testing"
)

// TestClientTarget checks how a client command finds what it talks to:
// ADDR, --zk, and the environment, command line first.
func TestClientTarget(t *testing.T) {
	for _, tc := range []struct {
		env             map[string]string
		args            []string
		addr, zk, clstr string
		rest            []string
		ok              bool
	}{
		{nil, []string{"h:1", "a/b", "1"}, "h:1", "", "", []string{"a/b", "1"}, true},
		{nil, []string{"a/b"}, "", "", "", nil, false},
		{nil, []string{"localhost", "a/b"}, "localhost", "", "", []string{"a/b"}, true},
		{map[string]string{envAddr: "e:1"}, []string{"a/b", "1"}, "e:1", "", "", []string{"a/b", "1"}, true},
		{map[string]string{envAddr: "e:1"}, []string{"h:1", "a/b"}, "h:1", "", "", []string{"a/b"}, true},
		{map[string]string{envZK: "z:2181", envCluster: "c"}, []string{"a/b"}, "", "z:2181", "c", []string{"a/b"}, true},
		{map[string]string{envZK: "z:2181"}, []string{"a/b"}, "", "", "", nil, false}, // no cluster
		{map[string]string{envAddr: "e:1", envZK: "z:2181", envCluster: "c"}, []string{"a/b"}, "e:1", "", "", []string{"a/b"}, true},
		{map[string]string{envZK: "z:2181", envCluster: "c"}, []string{"h:1", "a/b"}, "h:1", "", "", []string{"a/b"}, true},
		{map[string]string{envCluster: "c"}, []string{"--zk", "z:1", "a/b"}, "", "z:1", "c", []string{"a/b"}, true},
		{map[string]string{envCluster: "c"}, []string{"--zk", "z:1", "--cluster", "d", "a/b"}, "", "z:1", "d", []string{"a/b"}, true},
		{nil, []string{"--zk", "z:1", "--cluster", "d", "h:1", "a/b"}, "", "", "", nil, false},
		{nil, []string{"--cluster", "d", "h:1", "a/b"}, "", "", "", nil, false},
	} {
		for _, k := range []string{envAddr, envZK, envCluster} {
			t.Setenv(k, tc.env[k])
		}
		c := newClientCommand("call", "", "", io.Discard, io.Discard)
		c.withCluster("")
		rest, _, ok := c.parse(tc.args)
		if ok != tc.ok || ok && (c.addr != tc.addr || c.cluster.zk != tc.zk || c.cluster.name != tc.clstr || !reflect.DeepEqual(rest, tc.rest)) {
			t.Errorf("%v %q: ok %v, addr %q, zk %q, cluster %q, rest %q", tc.env, tc.args, ok, c.addr, c.cluster.zk, c.cluster.name, rest)
		}
	}
}
