package tests

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/cluster"
	"github.com/slacker-lua/slacker-lua/internal/headless"
	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/internal/zktest"
)

var screenshot = flag.String("console.screenshot", "", "write the console's screenshot, as TestConsoleBrowser's browser shows it, to this `file` (the README's is console.png)")

// page is a console's page in a headless browser, for a test.
type page struct {
	t *testing.T
	p *headless.Page
}

func openPage(t *testing.T, b *headless.Browser, url string) *page {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := b.Open(ctx, url, 1280, 800)
	if err != nil {
		t.Fatal(err)
	}
	return &page{t, p}
}

// eval evaluates js in the page into out.
func (p *page) eval(js string, out any) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.p.Eval(ctx, js, out); err != nil {
		p.t.Fatal(err)
	}
}

// wait waits until the JavaScript expression js is true in the page.
func (p *page) wait(what, js string) {
	p.t.Helper()
	p.waitFor(10*time.Second, what, js)
}

// waitFor is wait for up to d.
func (p *page) waitFor(d time.Duration, what, js string) {
	p.t.Helper()
	testutil.WaitFor(p.t, d, func() bool {
		var ok bool
		p.eval("!!("+js+")", &ok)
		return ok
	}, what)
}

// text is the text of the first element of the page that selector
// selects, "" if none.
func (p *page) text(selector string) string {
	p.t.Helper()
	var s string
	p.eval(fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, selector), &s)
	return s
}

// TestConsoleBrowser drives the console in a headless chromium against a
// real cluster (ZooKeeper and two `serve` processes): the namespaces page
// lists them with their servers and leader; a file added to a server shows
// without a reload within 2s; the call form's calls answer with the result,
// or a function's error with its message and code; the charts show the
// calls of a load generator; with an admin token, a server is taken out of
// ZooKeeper and back from the servers page, and without one no action is
// offered.
func TestConsoleBrowser(t *testing.T) {
	zks := zktest.Start(t)
	tokens := filepath.Join(t.TempDir(), "admin-tokens")
	if err := os.WriteFile(tokens, []byte("op3rator\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	counter := "_options = {stateful = true}\nlocal n = 0\n--- Adds one to the count, and returns it.\nfunction inc() n = n + 1 return n end\n"
	filesA := map[string]string{
		"who.lua":     "--- Says which server answers.\nfunction am_i() return 0 end",
		"fails.lua":   "--- Always fails.\nfunction boom() error(\"kaboom\", 0) end",
		"counter.lua": counter,
	}
	flags := []string{"--http", "127.0.0.1:0", "--admin-token-file", tokens}
	a := startNode(t, zks.Addr, filesA, flags...)
	b := startNode(t, zks.Addr, map[string]string{"who.lua": "--- Says which server answers.\nfunction am_i() return 1 end", "counter.lua": counter}, flags...)
	adminURL := startConsole(t, "--zk", zks.Addr, "--cluster", testLayout.Cluster, "--admin-token-file", tokens, "--every", "500ms")
	plainURL := startConsole(t, "--zk", zks.Addr, "--cluster", testLayout.Cluster, "--every", "500ms")
	c := newCluster(t, zks.Addr, nil)

	br := headless.Start(t)
	p := openPage(t, br, adminURL)
	row := func(ns string) string { return fmt.Sprintf(`tr[data-namespace=%q]`, ns) }

	// The namespaces, with their servers and the stateful one's leader.
	p.wait("who's two servers on the page", fmt.Sprintf(`document.querySelector('%s td:nth-child(2)')?.textContent.includes(%q) && document.querySelector('%s td:nth-child(2)')?.textContent.includes(%q)`,
		row("who"), a.addr, row("who"), b.addr))
	p.wait("counter's leader on the page", fmt.Sprintf(`document.querySelector('%s td:nth-child(3)')?.textContent !== ""`, row("counter")))
	leader := p.text(row("counter") + " td:nth-child(3)")
	servers, err := c.Servers(context.Background(), "counter")
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(servers, func(s cluster.Server) bool { return s.Leader }); i < 0 || servers[i].Addr != leader {
		t.Errorf("the page says %q leads counter; the cluster says %+v", leader, servers)
	}
	if s := p.text(row("counter")); !strings.Contains(s, "stateful") {
		t.Errorf("counter's row does not say stateful: %q", s)
	}
	// who's two files differ, as a version rolling out would.
	if s := p.text(row("who")); !strings.Contains(s, "2 versions") {
		t.Errorf("who's row does not say it is served at 2 versions: %q", s)
	}

	// A file added to a server shows without a reload.
	var loaded float64
	p.eval("performance.timeOrigin", &loaded)
	if err := os.WriteFile(filepath.Join(b.dir, "later.lua"), []byte("--- Added later.\nfunction v() return 1 end"), 0o644); err != nil {
		t.Fatal(err)
	}
	written := time.Now()
	p.wait("later on the page", fmt.Sprintf(`document.querySelector('%s')`, row("later")))
	if d := time.Since(written); d > 2*time.Second {
		t.Errorf("later showed on the page %v after its file was written; want 2s at most", d)
	}
	var origin float64
	p.eval("performance.timeOrigin", &origin)
	if origin != loaded {
		t.Errorf("the page was reloaded")
	}

	// The call form: a result from a chosen server, and a function's error.
	callForm := func(fn, args, server string) string {
		t.Helper()
		p.eval(fmt.Sprintf(`document.querySelector('button[data-function=%q]').click()`, fn), nil)
		p.eval(fmt.Sprintf(`document.getElementById("call-args").value = %q; document.getElementById("call-server").value = %q;
			document.getElementById("call-answer").textContent = ""; document.querySelector("#call-form button[type=submit]").click()`, args, server), nil)
		p.wait("the answer of "+fn, `!["", "calling…"].includes(document.getElementById("call-answer").textContent)`)
		return p.text("#call-answer")
	}
	if got := callForm("who/am_i", "{", ""); !strings.HasPrefix(got, "bad arguments") {
		t.Errorf("bad JSON arguments: %q", got)
	}
	if got := callForm("fails/boom", `[1, "two"]`, ""); !strings.HasPrefix(got, "exception") || !strings.Contains(got, "kaboom") {
		t.Errorf("fails/boom: %q; want its code and message", got)
	}
	if got := callForm("counter/inc", "[]", ""); !strings.HasPrefix(got, "success") || !strings.HasSuffix(got, "\n1") {
		t.Errorf("counter/inc through the cluster: %q", got)
	}
	if got := callForm("who/am_i", "[]", b.addr); !strings.HasPrefix(got, "success") || !strings.HasSuffix(got, "\n1") {
		t.Errorf("who/am_i on %s: %q", b.addr, got)
	}

	// The charts show a load generator's calls.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c.Call(context.Background(), "who/am_i")
			}
		}()
	}
	t.Cleanup(func() { close(stop); wg.Wait() })
	p.wait("the cluster's calls/s", `Number(document.querySelector('[data-total=calls] b').textContent) > 50`)
	p.wait("who's calls/s", fmt.Sprintf(`parseFloat(document.querySelector('%s td[data-kind] .rate').textContent) > 20`, row("who")))
	p.wait("a chart with points", fmt.Sprintf(`document.querySelector('%s td[data-kind] polyline').getAttribute("points").split(" ").length >= 3`, row("who")))
	if *screenshot != "" {
		p.waitFor(time.Minute, "the charts drawn over 30 points", `document.querySelector('[data-total=calls] polyline').getAttribute("points").split(" ").length >= 30`)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		png, err := p.p.Screenshot(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(*screenshot, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// The servers page: a file failing to load, with its line.
	if err := os.WriteFile(filepath.Join(a.dir, "broken.lua"), []byte("function f()\n  return 1 +\nend\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.eval(`location.hash = "#servers"`, nil)
	srow := func(addr string) string { return fmt.Sprintf(`tr[data-server=%q]`, addr) }
	p.wait("broken.lua failing on "+a.addr, fmt.Sprintf(`document.querySelector('%s .failure[data-failure="broken.lua"]')?.textContent.includes("broken.lua:3")`, srow(a.addr)))

	// Offline and back, with a token.
	p.wait("the servers page", fmt.Sprintf(`document.querySelector('%s [data-action=offline]')`, srow(a.addr)))
	p.eval(fmt.Sprintf(`document.querySelector('%s [data-action=offline]').click()`, srow(a.addr)), nil)
	if q := p.text("#confirm-text"); !strings.Contains(q, a.addr) {
		t.Fatalf("the confirmation asks %q", q)
	}
	whoServers := func() []string {
		ss, err := c.Servers(context.Background(), "who")
		if err != nil {
			return nil
		}
		var out []string
		for _, s := range ss {
			out = append(out, s.Addr)
		}
		return out
	}
	if got := whoServers(); len(got) != 2 {
		t.Fatalf("before the confirmation, who's servers are %v", got)
	}
	// The console asks for an admin token of its own: a wrong one acts not.
	var asked bool
	p.eval(`!document.getElementById("admin-token-label").hidden`, &asked)
	if !asked {
		t.Fatal("the confirmation does not ask for an admin token")
	}
	p.eval(`document.getElementById("admin-token").value = "wrong"; document.getElementById("confirm-yes").click()`, nil)
	p.wait("the refusal of a wrong admin token", `document.getElementById("action-answer").textContent.includes("failed")`)
	if got := whoServers(); len(got) != 2 {
		t.Fatalf("after an action with a wrong admin token, who's servers are %v", got)
	}
	p.eval(fmt.Sprintf(`document.querySelector('%s [data-action=offline]').click()`, srow(a.addr)), nil)
	p.eval(`document.getElementById("admin-token").value = "op3rator"; document.getElementById("confirm-yes").click()`, nil)
	testutil.WaitFor(t, 10*time.Second, func() bool { return slices.Equal(whoServers(), []string{b.addr}) }, a.addr+" out of the cluster")
	p.wait("the action's answer", `document.getElementById("action-answer").textContent.includes("done")`)
	p.wait("the server shown offline", fmt.Sprintf(`document.querySelector('%s [data-action=online]') && document.querySelector('%s').textContent.includes("offline")`, srow(a.addr), srow(a.addr)))
	p.eval(fmt.Sprintf(`document.querySelector('%s [data-action=online]').click(); document.getElementById("confirm-yes").click()`, srow(a.addr)), nil)
	testutil.WaitFor(t, 10*time.Second, func() bool { return len(whoServers()) == 2 }, a.addr+" back in the cluster")

	// Weight, with a token.
	p.wait("the weight's input", fmt.Sprintf(`document.querySelector('%s input.weight')`, srow(b.addr)))
	p.eval(fmt.Sprintf(`document.querySelector('%s input.weight').value = "3"; document.querySelector('%s [data-action=weight]').click(); document.getElementById("confirm-yes").click()`, srow(b.addr), srow(b.addr)), nil)
	testutil.WaitFor(t, 10*time.Second, func() bool {
		d, ok, err := c.ServerData(context.Background(), b.addr)
		return err == nil && ok && d.Weight == 3
	}, "the weight of "+b.addr+" in ZooKeeper")

	// Without a token, nothing is offered.
	plain := openPage(t, br, plainURL+"#servers")
	plain.wait("the servers page", fmt.Sprintf(`document.querySelector('%s')`, srow(a.addr)))
	var actions int
	plain.eval(`document.querySelectorAll("[data-action], input.weight").length`, &actions)
	if actions != 0 {
		t.Errorf("a console without an admin token offers %d actions", actions)
	}
	if w := plain.text(srow(b.addr) + " td:nth-child(4)"); w != strconv.Itoa(3) {
		t.Errorf("the weight shown: %q", w)
	}
}
