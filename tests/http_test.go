package tests

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/internal/zktest"
)

var httpRE = regexp.MustCompile(`msg="serving HTTP" http=(\S+)`)

// httpURL is the base URL of the HTTP listener of s, started with --http.
func httpURL(t testing.TB, s *cliServer) string {
	t.Helper()
	m := httpRE.FindStringSubmatch(s.log())
	if m == nil {
		t.Fatalf("no HTTP address in the log\n%s", s.log())
	}
	return "http://" + m[1]
}

var pprofRE = regexp.MustCompile(`msg="serving profiles" pprof=(\S+)`)

// TestPprof checks that --pprof serves Go's profiles on a listener of
// its own, and that the HTTP gateway does not serve them.
func TestPprof(t *testing.T) {
	dir := testutil.WriteFiles(t, map[string]string{"m.lua": "function f() return 1 end"})
	s := startCLI(t, "--http", "127.0.0.1:0", "--pprof", "127.0.0.1:0", dir)
	m := pprofRE.FindStringSubmatch(s.log())
	if m == nil {
		t.Fatalf("no profiles' address in the log\n%s", s.log())
	}
	base := "http://" + m[1] + "/debug/pprof/"
	if code, _, body := request(t, "GET", base, ""); code != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("GET %s: %d\n%s", base, code, body)
	}
	if code, _, body := request(t, "GET", base+"goroutine?debug=1", ""); code != 200 || !strings.Contains(body, "goroutine profile: total") {
		t.Errorf("GET %sgoroutine?debug=1: %d\n%s", base, code, body)
	}
	if code, _, body := request(t, "GET", base+"profile?seconds=1", ""); code != 200 || len(body) == 0 {
		t.Errorf("GET %sprofile?seconds=1: %d, %d bytes", base, code, len(body))
	}
	if code, _, body := request(t, "GET", httpURL(t, s)+"/debug/pprof/", ""); code == 200 || strings.Contains(body, "goroutine") {
		t.Errorf("the HTTP gateway serves /debug/pprof/ too: %d\n%s", code, body)
	}
	s.terminate(t)
}

// request makes an HTTP request and returns the status, the result code
// header and the body.
func request(t *testing.T, method, url, body string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("X-Slacker-Code"), string(b)
}

// TestHTTPGateway calls Lua functions of a real server through its HTTP
// gateway, and checks every way a call can end, the listing and the
// health endpoints.
func TestHTTPGateway(t *testing.T) {
	dir := testutil.WriteFiles(t, map[string]string{
		"shop/cart.lua": `
--- Adds two numbers.
function add(a, b) return a + b end
function fail() error("out of stock") end
function spin() while true do end end
`,
	})
	s := startCLI(t, "--http", "127.0.0.1:0", "--timeout", "300ms", dir)
	url := httpURL(t, s)
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		code, want               string
	}{
		{"result", "POST", "/shop.cart/add.json", "[40, 2]", 200, "success", "42"},
		{"exception", "POST", "/shop.cart/fail.json", "", 500, "exception", "out of stock"},
		{"not found", "POST", "/shop.cart/nope.json", "[]", 404, "not-found", "shop.cart/nope"},
		{"no namespace", "POST", "/shop.nope/add.json", "[]", 404, "not-found", ""},
		{"bad body", "POST", "/shop.cart/add.json", "[1,", 400, "invalid-packet", "not a JSON array of the arguments"},
		{"timeout", "POST", "/shop.cart/spin.json", "[]", 504, "canceled", ""},
		{"listing", "GET", "/", "", 200, "", `{"name":"shop.cart/add","params":["a","b"],"doc":"Adds two numbers."}`},
		{"healthz", "GET", "/healthz", "", 200, "", "ok"},
		{"readyz", "GET", "/readyz", "", 200, "", "ready: 2 namespaces, 0 failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, code, body := request(t, tc.method, url+tc.path, tc.body)
			if status != tc.status || code != tc.code || !strings.Contains(body, tc.want) {
				t.Fatalf("%d %q %q; want %d %q with %q", status, code, body, tc.status, tc.code, tc.want)
			}
		})
	}
	// The server goes on serving after the runaway call.
	if status, _, body := request(t, "POST", url+"/shop.cart/add.json", "[1, 2]"); status != 200 || body != "3" {
		t.Fatalf("after the timeout: %d %q", status, body)
	}
	s.terminate(t)
}

// TestHTTPReadyInCluster checks that a server of a cluster is ready once
// ZooKeeper holds its namespaces, and stays ready while ZooKeeper is
// gone: it still serves, and ZooKeeper is the whole fleet's.
func TestHTTPReadyInCluster(t *testing.T) {
	zks := zktest.Start(t)
	n := startNode(t, zks.Addr, whoFile(0), "--http", "127.0.0.1:0")
	url := httpURL(t, n.cliServer)
	ready := func() bool {
		status, _, _ := request(t, "GET", url+"/readyz", "")
		return status == http.StatusOK
	}
	connected := func(want float64) func() bool {
		return func() bool { return scrape(t, url)["slacker_zookeeper_connected"] == want }
	}
	testutil.WaitFor(t, 10*time.Second, ready, "ready once registered")
	zks.Stop()
	testutil.WaitFor(t, 10*time.Second, connected(0), "disconnected from ZooKeeper")
	if !ready() {
		t.Error("not ready without ZooKeeper")
	}
	zks.Restart(false)
	testutil.WaitFor(t, 20*time.Second, connected(1), "connected again")
	if !ready() {
		t.Error("not ready once ZooKeeper is back")
	}
}

// scrape reads the server's metrics and returns each sample's value by
// its name and labels, as in `slacker_calls_total{code="success",...}`,
// the labels sorted by name.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing the metrics: %v", err)
	}
	out := make(map[string]float64)
	for name, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			slices.Sort(labels)
			key := name
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				out[key+"_count"] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

// TestMetrics checks the figures a server exports: calls over both
// protocols by function and result, their latency, connections, and
// reloads as files change.
func TestMetrics(t *testing.T) {
	dir := testutil.WriteFiles(t, map[string]string{
		"shop/cart.lua": "function add(a, b) return a + b end\nfunction fail() error('no') end",
	})
	s := startCLI(t, "--http", "127.0.0.1:0", dir)
	url := httpURL(t, s)
	c := dial(t, s.addr, client.Config{})
	for range 2 {
		callAs[int](t, c, "shop.cart/add", 1, 2)
	}
	for range 3 {
		request(t, "POST", url+"/shop.cart/add.json", "[1, 2]")
	}
	request(t, "POST", url+"/shop.cart/fail.json", "[]")
	request(t, "POST", url+"/made/up.json", "[]")
	m := scrape(t, url)
	for key, want := range map[string]float64{
		`slacker_calls_total{code="success",function="add",namespace="shop.cart"}`:    5,
		`slacker_calls_total{code="exception",function="fail",namespace="shop.cart"}`: 1,
		`slacker_calls_total{code="not-found",function="",namespace=""}`:              1,
		`slacker_call_duration_seconds{function="add",namespace="shop.cart"}_count`:   5,
		`slacker_calls_in_flight`:                                0,
		`slacker_connections`:                                    1,
		`slacker_namespace_pending_calls{namespace="shop.cart"}`: 0,
		`slacker_reloads_total{result="added"}`:                  2, // shop.cart and the status namespace
	} {
		if got, ok := m[key]; !ok || got != want {
			t.Errorf("%s = %v (present: %v), want %v", key, got, ok, want)
		}
	}
	if m["go_goroutines"] == 0 || m["process_resident_memory_bytes"] == 0 {
		t.Errorf("no runtime or process figures: %v", m)
	}
	if err := os.WriteFile(filepath.Join(dir, "broken.lua"), []byte("function ("), 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, func() bool {
		return scrape(t, url)[`slacker_reloads_total{result="failed"}`] == 1
	}, "the failed reload counted")
	s.terminate(t)
}
