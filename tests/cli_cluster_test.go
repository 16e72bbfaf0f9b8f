package tests

import (
	"regexp"
	"strings"
	"testing"

	"github.com/slacker-lua/slacker-lua/internal/zktest"
)

// TestCLIClusterFromEnv checks the cluster commands with a real
// ZooKeeper: $SLACKER_ZK and $SLACKER_CLUSTER for the flags, status of
// every server of a cluster, and inspect of a cluster that does not
// exist.
func TestCLIClusterFromEnv(t *testing.T) {
	zks := zktest.Start(t)
	a := startNode(t, zks.Addr, map[string]string{"m.lua": "function add(a, b) return a + b end"})
	b := startNode(t, zks.Addr, map[string]string{"m.lua": "function add(a, b) return a + b end", "bad.lua": "function f("})
	c := newCluster(t, zks.Addr, nil)
	waitServers(t, c, "m", 2)
	env := []string{"SLACKER_ZK=" + zks.Addr, "SLACKER_CLUSTER=" + testLayout.Cluster}

	if stdout, stderr, code := cliWith(t, env, "", "call", "m/add", "1", "2"); code != 0 || stdout != "3\n" {
		t.Errorf("call with $SLACKER_ZK: exit %d, %q %q", code, stdout, stderr)
	}
	if stdout, stderr, code := cliWith(t, env[:1], "", "call", "--cluster", testLayout.Cluster, "m/add", "1", "2"); code != 0 || stdout != "3\n" {
		t.Errorf("call with $SLACKER_ZK and --cluster: exit %d, %q %q", code, stdout, stderr)
	}
	if _, stderr, code := cliWith(t, env[:1], "", "call", "m/add", "1", "2"); code != 2 || !strings.Contains(stderr, "--zk needs --cluster (or $SLACKER_CLUSTER)") {
		t.Errorf("$SLACKER_ZK without a cluster: exit %d, %q", code, stderr)
	}

	// status of the cluster: every server, each under its line; b's
	// failed file makes it exit 1.
	stdout, stderr, code := cliWith(t, env, "", "status")
	first, second := a.addr, b.addr
	if second < first {
		first, second = second, first
	}
	re := regexp.MustCompile(`\A# server ` + regexp.QuoteMeta(first) + `\nNAMESPACE .*\n(.*\n)+\n# server ` + regexp.QuoteMeta(second) + `\n`)
	if code != 1 || !re.MatchString(stdout) || !strings.Contains(stdout, "1 file(s) failed to load:\n  bad.lua") || stderr != "slacker-lua status: "+b.addr+": 1 file(s) failed to load\n" {
		t.Errorf("status --zk: exit %d\n%s%s", code, stdout, stderr)
	}

	stdout, stderr, code = cliWith(t, nil, "", "inspect", "--zk", zks.Addr, "--cluster", "nosuch")
	want := `slacker-lua inspect: no cluster "nosuch" under /slacker in ZooKeeper at ` + zks.Addr + `: no server of it has registered a namespace, and there are ` + testLayout.Cluster + ` (check`
	if code != 1 || stdout != "" || !strings.HasPrefix(stderr, want) {
		t.Errorf("inspect of no cluster: exit %d, %q, %q", code, stdout, stderr)
	}
}
