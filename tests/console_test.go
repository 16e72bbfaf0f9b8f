package tests

import (
	"bufio"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/console"
	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/internal/zktest"
)

var consoleRE = regexp.MustCompile(`msg=serving addr=\S+ url=(\S+)`)

// startConsole runs `slacker-lua console` on a free loopback port and
// returns its URL once it serves; it is stopped when the test ends, and
// must exit cleanly on SIGTERM.
func startConsole(t *testing.T, args ...string) string {
	t.Helper()
	cmd := serveCommand(binary(t), append([]string{"console", "--listen", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	url, done := make(chan string, 1), make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := consoleRE.FindStringSubmatch(sc.Text()); m != nil {
				url <- m[1]
			}
		}
		done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("console exited with %v", err)
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Errorf("console did not exit on SIGTERM")
		}
	})
	select {
	case u := <-url:
		return u
	case err := <-done:
		t.Fatalf("console exited: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("console did not start")
	}
	return ""
}

// getJSON decodes the JSON answer of GET url into v.
func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	r, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, r.Status)
	}
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// consoleCluster starts a ZooKeeper, two servers in its cluster (the
// first serving who and fails, the second who) and a console of it, and
// returns the servers and the console's URL.
func consoleCluster(t *testing.T) (a, b *node, url string) {
	t.Helper()
	zks := zktest.Start(t)
	files := whoFile(0)
	files["fails.lua"] = `function boom() error("kaboom", 0) end`
	a, b = startNode(t, zks.Addr, files), startNode(t, zks.Addr, whoFile(1))
	return a, b, startConsole(t, "--zk", zks.Addr, "--cluster", testLayout.Cluster)
}

// TestConsoleNamespaces runs `slacker-lua console` on a cluster of two
// `serve` processes and a real ZooKeeper: its API lists the namespaces
// with their servers, and a file added to one server shows in it within
// 2s, as the page, which asks every second, shows it without a reload.
func TestConsoleNamespaces(t *testing.T) {
	a, b, url := consoleCluster(t)
	namespaces := func() map[string][]string {
		var nss []console.Namespace
		getJSON(t, url+"api/namespaces", &nss)
		out := map[string][]string{}
		for _, ns := range nss {
			for _, s := range ns.Servers {
				out[ns.Name] = append(out[ns.Name], s.Addr)
			}
		}
		return out
	}
	both := slices.Sorted(slices.Values([]string{a.addr, b.addr}))
	testutil.WaitFor(t, 10*time.Second, func() bool { return slices.Equal(namespaces()["who"], both) }, "who's two servers")
	if err := os.WriteFile(filepath.Join(a.dir, "later.lua"), []byte("function v() return 1 end"), 0o644); err != nil {
		t.Fatal(err)
	}
	written := time.Now()
	testutil.WaitFor(t, 10*time.Second, func() bool { return slices.Equal(namespaces()["later"], []string{a.addr}) }, "later, added to one server")
	if d := time.Since(written); d > 2*time.Second {
		t.Errorf("later showed %v after its file was written; want 2s at most", d)
	}
}

// TestConsoleCalls calls functions through the console's API, as its
// call form does: through the cluster client and on a chosen server, a
// function that fails (its message and code), one not found; and lists
// the servers. Calls come only as JSON, and not from another site's pages.
func TestConsoleCalls(t *testing.T) {
	a, b, url := consoleCluster(t)
	call := func(req, contentType, origin string) (int, console.CallAnswer) {
		t.Helper()
		r, err := http.NewRequest("POST", url+"api/call", strings.NewReader(req))
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Content-Type", contentType)
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ans console.CallAnswer
		json.NewDecoder(resp.Body).Decode(&ans)
		return resp.StatusCode, ans
	}
	testutil.WaitFor(t, 10*time.Second, func() bool {
		for _, req := range []string{`{"function": "who/am_i", "server": "` + a.addr + `"}`, `{"function": "who/am_i", "server": "` + b.addr + `"}`, `{"function": "fails/boom"}`} {
			if _, ans := call(req, "application/json", ""); ans.Code == "not-found" {
				return false
			}
		}
		return true
	}, "who on both servers, and fails on the first")
	for _, tc := range []struct {
		req    string
		code   string
		result any
		err    string
	}{
		{`{"function": "who/am_i", "server": "` + a.addr + `"}`, "success", 0.0, ""},
		{`{"function": "who/am_i", "server": "` + b.addr + `"}`, "success", 1.0, ""},
		{`{"function": "fails/boom", "args": [1, "two"]}`, "exception", nil, "kaboom"},
		{`{"function": "who/nothing"}`, "not-found", nil, ""},
	} {
		status, ans := call(tc.req, "application/json", "")
		if status != http.StatusOK || ans.Code != tc.code || ans.Result != tc.result || tc.err != "" && ans.Error != tc.err {
			t.Errorf("%s: %d %+v; want %s, result %v, error %q", tc.req, status, ans, tc.code, tc.result, tc.err)
		}
	}
	if status, _ := call(`{"function": "who/am_i"}`, "text/plain", ""); status != http.StatusUnsupportedMediaType {
		t.Errorf("a text/plain call: %d, want 415", status)
	}
	if status, _ := call(`{"function": "who/am_i"}`, "application/json", "http://evil.example"); status != http.StatusForbidden {
		t.Errorf("a call from another site's page: %d, want 403", status)
	}
	if status, _ := call(`{"function": "who/am_i", "secret": 1}`, "application/json", ""); status != http.StatusBadRequest {
		t.Errorf("a call with an unknown field: %d, want 400", status)
	}

	var servers []console.ServerInfo
	getJSON(t, url+"api/servers", &servers)
	got := map[string][]string{}
	for _, s := range servers {
		if !s.Registered || s.Weight != 1 || s.Version == "" || s.StartedAt.IsZero() {
			t.Errorf("server %+v", s)
		}
		got[s.Addr] = s.Namespaces
	}
	if want := map[string][]string{a.addr: {"fails", "who"}, b.addr: {"who"}}; !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("servers' namespaces: %v, want %v", got, want)
	}
}

// TestConsoleSecurity runs `slacker-lua console` with --token-file: its
// page loads, but the cluster's data wants a token of the file; and, on
// loopback, it answers to the names of loopback only.
func TestConsoleSecurity(t *testing.T) {
	zks := zktest.Start(t)
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte("# the console's users\ns3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	startNode(t, zks.Addr, whoFile(0), "--token-file", tokens, "--http", "127.0.0.1:0")
	url := startConsole(t, "--zk", zks.Addr, "--cluster", testLayout.Cluster, "--token-file", tokens, "--every", "200ms")
	// ask asks the console for path, with a JSON body if not "", the
	// token if not "" and the Host header host if not "", and decodes a
	// 200's answer into v if not nil.
	ask := func(path, body, token, host string, v any) int {
		t.Helper()
		method, r := "GET", io.Reader(nil)
		if body != "" {
			method, r = "POST", strings.NewReader(body)
		}
		req, err := http.NewRequest(method, url+path, r)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if v != nil && resp.StatusCode == http.StatusOK {
			json.NewDecoder(resp.Body).Decode(v)
		}
		return resp.StatusCode
	}
	for _, tc := range []struct {
		path, token, host string
		want              int
	}{
		{"", "", "", http.StatusOK},
		{"api/config", "", "", http.StatusOK},
		{"api/namespaces", "", "", http.StatusUnauthorized},
		{"api/namespaces", "wrong", "", http.StatusUnauthorized},
		{"api/namespaces", "s3cret", "", http.StatusOK},
		{"api/namespaces", "s3cret", "localhost", http.StatusOK},
		{"api/namespaces", "s3cret", "rebound.example:2110", http.StatusMisdirectedRequest},
		{"", "", "rebound.example", http.StatusMisdirectedRequest},
	} {
		if got := ask(tc.path, "", tc.token, tc.host, nil); got != tc.want {
			t.Errorf("GET /%s, token %q, Host %q: %d, want %d", tc.path, tc.token, tc.host, got, tc.want)
		}
	}
	// The console calls the server with the file's first token.
	testutil.WaitFor(t, 10*time.Second, func() bool {
		var ans console.CallAnswer
		return ask("api/call", `{"function": "who/am_i"}`, "s3cret", "", &ans) == http.StatusOK && ans.Code == "success"
	}, "a call through the console, with the token")
	// And asks its gateway for the files failing to load with it.
	testutil.WaitFor(t, 10*time.Second, func() bool {
		var f console.Figures
		return ask("api/figures", "", "s3cret", "", &f) == http.StatusOK && len(f.Points) >= 2 && len(f.Unreachable) == 0
	}, "the figures, and the files failing to load, read with the token")
}

// TestConsoleServer runs `slacker-lua console URL` on one server outside
// a cluster, by the URL of its HTTP listener: its namespaces with their
// docs, its calls through the gateway (a result, an exception with its
// message and code, not-found) and its figures.
func TestConsoleServer(t *testing.T) {
	dir := testutil.WriteFiles(t, map[string]string{
		"who.lua":     "--- Says which server answers.\nfunction am_i() return 7 end",
		"fails.lua":   "function boom() error(\"kaboom\", 0) end",
		"counter.lua": "_options = {stateful = true}\nfunction inc() return 1 end",
	})
	s := startCLI(t, "--http", "127.0.0.1:0", dir)
	base := httpURL(t, s)
	url := startConsole(t, base, "--every", "200ms")
	name := strings.TrimPrefix(base, "http://")

	var nss []console.Namespace
	getJSON(t, url+"api/namespaces", &nss)
	got := map[string]console.Namespace{}
	for _, ns := range nss {
		got[ns.Name] = ns
	}
	if who := got["who"]; len(who.Servers) != 1 || who.Servers[0].Addr != name || who.Servers[0].Version == "" ||
		len(who.Functions) != 1 || who.Functions[0].Doc != "Says which server answers." {
		t.Errorf("who: %+v", who)
	}
	if c := got["counter"]; !c.Stateful || c.Leader != name {
		t.Errorf("counter: %+v; want stateful, led by the server", c)
	}
	if _, ok := got["slacker-lua.status"]; ok || len(got) != 3 {
		t.Errorf("namespaces: %v", slices.Collect(maps.Keys(got)))
	}
	for req, want := range map[string]console.CallAnswer{
		`{"function": "who/am_i"}`:                           {Code: "success", Result: 7.0},
		`{"function": "who/am_i", "server": "` + name + `"}`: {Code: "success", Result: 7.0},
		`{"function": "fails/boom", "args": [1]}`:            {Code: "exception", Error: "kaboom"},
		`{"function": "who/nothing"}`:                        {Code: "not-found"},
	} {
		resp, err := http.Post(url+"api/call", "application/json", strings.NewReader(req))
		if err != nil {
			t.Fatal(err)
		}
		var ans console.CallAnswer
		json.NewDecoder(resp.Body).Decode(&ans)
		resp.Body.Close()
		if ans.Code != want.Code || ans.Result != want.Result || want.Error != "" && ans.Error != want.Error {
			t.Errorf("%s: %+v, want %+v", req, ans, want)
		}
	}
	var servers []console.ServerInfo
	getJSON(t, url+"api/servers", &servers)
	if len(servers) != 1 || servers[0].Addr != name || servers[0].HTTP != base || len(servers[0].Namespaces) != 3 {
		t.Errorf("servers: %+v", servers)
	}
	testutil.WaitFor(t, 10*time.Second, func() bool {
		// A call between two of the console's scrapes shows in its figures.
		resp, err := http.Post(url+"api/call", "application/json", strings.NewReader(`{"function": "who/am_i"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		var f console.Figures
		getJSON(t, url+"api/figures", &f)
		for _, p := range f.Points {
			if p.Namespaces["who"].Calls > 0 {
				return len(f.Unreachable) == 0
			}
		}
		return false
	}, "who's calls in the figures")
}
