package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/cluster"
	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/internal/zktest"
	"github.com/slacker-lua/slacker-lua/server"
)

// get requests url and returns the status and the body.
func get(t *testing.T, method, url, body string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metric returns the value of the sample named so (labels included, as
// /metrics writes them) at base/metrics, and whether there is one.
func metric(t *testing.T, base, sample string) (float64, bool) {
	t.Helper()
	_, body := get(t, "GET", base+"/metrics", "")
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	}
	return 0, false
}

// verbose returns the detailed answer of base/readyz?verbose.
func verbose(t *testing.T, base string) (int, map[string]any) {
	t.Helper()
	code, body := get(t, "GET", base+"/readyz?verbose", "")
	var st map[string]any
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("/readyz?verbose: %v: %q", err, body)
	}
	return code, st
}

// TestMetricsListener serves the metrics and health on a listener of
// their own, without the gateway, with the files failing to load as a
// gauge that follows hot reload.
func TestMetricsListener(t *testing.T) {
	dir := testutil.WriteFiles(t, map[string]string{"m.lua": "function add(a, b) return a + b end"})
	srv := start(t, server.Config{Dir: dir, Metrics: "127.0.0.1:0"})
	if srv.HTTPAddr() != nil {
		t.Errorf("HTTPAddr %v without Config.HTTP", srv.HTTPAddr())
	}
	base := "http://" + srv.MetricsAddr().String()
	if code, body := get(t, "GET", base+"/readyz", ""); code != 200 || body != "ready: 2 namespaces, 0 failed\n" {
		t.Errorf("/readyz: %d %q", code, body)
	}
	if code, body := get(t, "GET", base+"/healthz", ""); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, _ := get(t, "POST", base+"/m/add.json", "[1, 2]"); code != http.StatusNotFound {
		t.Errorf("the gateway on the metrics listener: %d", code)
	}
	if code, st := verbose(t, base); code != 200 || st["ready"] != true || st["namespaces"] != 2.0 || st["zookeeper"] != nil {
		t.Errorf("/readyz?verbose outside a cluster: %d %v", code, st)
	}
	if _, ok := metric(t, base, "slacker_build_info"); ok {
		t.Error("slacker_build_info without labels")
	}
	if v, ok := metric(t, base, "slacker_namespace_files_failing"); !ok || v != 0 {
		t.Errorf("files failing: %v %v, want 0", v, ok)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.lua"), []byte("function ("), 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, wait, func() bool { v, _ := metric(t, base, "slacker_namespace_files_failing"); return v == 1 }, "one file failing")
	if err := os.WriteFile(filepath.Join(dir, "bad.lua"), []byte("function f() end"), 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, wait, func() bool { v, _ := metric(t, base, "slacker_namespace_files_failing"); return v == 0 }, "no file failing once fixed")
}

// TestReadyThroughZooKeeperOutage checks the readiness rule: a server
// that has registered stays ready while ZooKeeper is gone, past the
// session timeout, and tells of the outage in /metrics and in
// /readyz?verbose's zookeeper field.
func TestReadyThroughZooKeeperOutage(t *testing.T) {
	zks := zktest.Start(t)
	const session = 2 * time.Second
	dir := testutil.WriteFiles(t, map[string]string{"m.lua": "function add(a, b) return a + b end"})
	srv := start(t, server.Config{Dir: dir, Metrics: "127.0.0.1:0", Cluster: server.ClusterConfig{
		ZooKeeper: []string{zks.Addr}, Layout: cluster.Layout{Cluster: "ops"}, SessionTimeout: session,
	}})
	base := "http://" + srv.MetricsAddr().String()
	ready := func() bool { code, _ := get(t, "GET", base+"/readyz", ""); return code == 200 }
	testutil.WaitFor(t, wait, ready, "ready once registered")
	connected := func(want float64) func() bool {
		return func() bool { v, ok := metric(t, base, "slacker_zookeeper_connected"); return ok && v == want }
	}
	testutil.WaitFor(t, wait, connected(1), "slacker_zookeeper_connected 1")

	zks.Stop()
	testutil.WaitFor(t, wait, connected(0), "slacker_zookeeper_connected 0 once ZooKeeper is gone")
	var since time.Time
	testutil.WaitFor(t, 3*session, func() bool {
		_, st := verbose(t, base)
		zk, _ := st["zookeeper"].(map[string]any)
		s, _ := zk["since"].(string)
		since, _ = time.Parse(time.RFC3339Nano, s)
		return zk["connected"] == false && !since.IsZero() && time.Since(since) > session+time.Second
	}, "ZooKeeper gone for longer than the session timeout")
	if code, body := get(t, "GET", base+"/readyz", ""); code != 200 {
		t.Errorf("/readyz during the outage: %d %q", code, body)
	}
	code, st := verbose(t, base)
	if zk, _ := st["zookeeper"].(map[string]any); code != 200 || st["ready"] != true || zk["connected"] != false || zk["registered"] != true {
		t.Errorf("/readyz?verbose during the outage: %d %v", code, st)
	}
	if v, _ := metric(t, base, "slacker_zookeeper_connection_losses_total"); v != 1 {
		t.Errorf("connection losses: %v, want 1", v)
	}

	// ZooKeeper, started again with its data, keeps the server's
	// session: no expiry.
	zks.Restart(false)
	testutil.WaitFor(t, 4*wait, connected(1), "slacker_zookeeper_connected 1 once ZooKeeper is back")
	if v, _ := metric(t, base, "slacker_zookeeper_session_expiries_total"); v != 0 {
		t.Errorf("session expiries: %v, want 0: ZooKeeper kept the session", v)
	}
	if !ready() {
		t.Error("not ready once ZooKeeper is back")
	}
	// Without its data, ZooKeeper has lost the session: it expires, and
	// the server registers in a new one.
	zks.Stop()
	testutil.WaitFor(t, wait, connected(0), "slacker_zookeeper_connected 0 once ZooKeeper is gone again")
	zks.Restart(true)
	testutil.WaitFor(t, 4*wait, func() bool {
		v, _ := metric(t, base, "slacker_zookeeper_session_expiries_total")
		return v == 1
	}, "one session expired once ZooKeeper lost its data")
	testutil.WaitFor(t, 4*wait, ready, "ready in the new session")
}

// TestAdminOnlinePutsEverythingBack checks the rule of POST
// /_admin/online without a namespace: every namespace is back, those
// taken offline one by one included.
func TestAdminOnlinePutsEverythingBack(t *testing.T) {
	zks := zktest.Start(t)
	layout := cluster.Layout{Cluster: "admin"}
	dir := testutil.WriteFiles(t, map[string]string{"a.lua": "function f() return 1 end", "b.lua": "function f() return 2 end"})
	srv := start(t, server.Config{Dir: dir, HTTP: "127.0.0.1:0",
		AdminAuthenticate: func(tok string) bool { return tok == "op" },
		Cluster:           server.ClusterConfig{ZooKeeper: []string{zks.Addr}, Layout: layout},
	})
	base := "http://" + srv.HTTPAddr().String()
	admin := func(path string) string {
		t.Helper()
		code, body := get(t, "POST", base+path, "", "Authorization", "Bearer op")
		if code != 200 {
			t.Fatalf("%s: %d %q", path, code, body)
		}
		return strings.TrimSpace(body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	cc, err := cluster.NewClient(ctx, cluster.ClientConfig{ZooKeeper: []string{zks.Addr}, Layout: layout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	registered := func(a, b int) func() bool {
		return func() bool {
			sa, erra := cc.Servers(ctx, "a")
			sb, errb := cc.Servers(ctx, "b")
			return erra == nil && errb == nil && len(sa) == a && len(sb) == b
		}
	}
	testutil.WaitFor(t, wait, registered(1, 1), "a and b registered")
	admin("/_admin/offline?namespace=a")
	testutil.WaitFor(t, wait, registered(0, 1), "a offline")
	admin("/_admin/offline")
	testutil.WaitFor(t, wait, registered(0, 0), "the server offline")
	if got, want := admin("/_admin/online"), `{"offline":false,"offline_namespaces":[],"weight":1}`; got != want {
		t.Errorf("online: %s, want %s", got, want)
	}
	testutil.WaitFor(t, wait, registered(1, 1), "a and b back")
}

// TestErrorTextsWithoutPrefixes checks that the errors users see, in the
// answers and in Run's error, read as sentences without Go package names.
func TestErrorTextsWithoutPrefixes(t *testing.T) {
	dir := testutil.WriteFiles(t, map[string]string{"m.lua": "function add(a, b) return a + b end"})
	srv := start(t, server.Config{Dir: dir, HTTP: "127.0.0.1:0"})
	if code, body := get(t, "POST", "http://"+srv.HTTPAddr().String()+"/m/nope.json", "[]"); code != 404 || body != `"m/nope: not found"` {
		t.Errorf("a function not served: %d %s", code, body)
	}
	_, err := call(dial(t, srv), "m/nope")
	if !errors.Is(err, client.ErrNotFound) || err.Error() != "client: m/nope: not found" {
		t.Errorf("a function not served, through the client: %v", err)
	}
	file := filepath.Join(dir, "m.lua")
	bad, err := server.New(server.Config{Dir: file, Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	want := "cannot load the namespaces of " + file + ": " + file + " is not a folder"
	if err := bad.Run(context.Background()); err == nil || err.Error() != want {
		t.Errorf("Run: %v\nwant %s", err, want)
	}
}
