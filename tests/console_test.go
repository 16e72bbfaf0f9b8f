package tests

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
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

// TestConsoleNamespaces runs `slacker-lua console` on a cluster of two
// `serve` processes and a real ZooKeeper: its API lists the namespaces
// with their servers, and a file added to one server shows in it within
// 2s, as the page, which asks every second, shows it without a reload.
func TestConsoleNamespaces(t *testing.T) {
	zks := zktest.Start(t)
	a, b := startNode(t, zks.Addr, whoFile(0)), startNode(t, zks.Addr, whoFile(1))
	url := startConsole(t, "--zk", zks.Addr, "--cluster", testLayout.Cluster)
	namespaces := func() map[string][]string {
		r, err := http.Get(url + "api/namespaces")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		var nss []console.Namespace
		if err := json.NewDecoder(r.Body).Decode(&nss); err != nil {
			t.Fatal(err)
		}
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
