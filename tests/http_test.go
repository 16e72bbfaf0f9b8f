package tests

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/internal/zktest"
)

var httpRE = regexp.MustCompile(`msg="serving HTTP" http=(\S+)`)

// httpURL is the base URL of the HTTP listener of s, started with --http.
func httpURL(t *testing.T, s *cliServer) string {
	t.Helper()
	m := httpRE.FindStringSubmatch(s.log())
	if m == nil {
		t.Fatalf("no HTTP address in the log\n%s", s.log())
	}
	return "http://" + m[1]
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
		{"bad body", "POST", "/shop.cart/add.json", "[1,", 400, "invalid-packet", "argument array"},
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
// ZooKeeper holds its namespaces, and not while ZooKeeper is gone.
func TestHTTPReadyInCluster(t *testing.T) {
	zks := zktest.Start(t)
	n := startNode(t, zks.Addr, whoFile(0), "--http", "127.0.0.1:0")
	url := httpURL(t, n.cliServer) + "/readyz"
	ready := func() bool {
		status, _, _ := request(t, "GET", url, "")
		return status == http.StatusOK
	}
	testutil.WaitFor(t, 10*time.Second, ready, "ready once registered")
	zks.Stop()
	testutil.WaitFor(t, 10*time.Second, func() bool { return !ready() }, "not ready without ZooKeeper")
	zks.Restart(false)
	testutil.WaitFor(t, 20*time.Second, ready, "ready again once registered again")
}
