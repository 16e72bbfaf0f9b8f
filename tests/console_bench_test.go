package tests

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/cluster"
	"github.com/slacker-lua/slacker-lua/console"
	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/internal/zkrun"
	"github.com/slacker-lua/slacker-lua/internal/zktest"
)

// BenchmarkConsolePolling measures what an open console page costs, on a
// cluster of 10 `serve` processes of the same 100 namespaces, each
// function called once on every server so that every server's /metrics
// has the figures of every namespace. An iteration is a second of an open
// page, paced in real time (run it with -benchtime 20x): the page's polls
// of api/namespaces (every second) and api/figures (at each new point),
// while the console reads every server's /metrics every 2s. "idle" is the
// console with no page open: its reading of the servers alone; "busy" is
// an open page while 1,000 calls a second go to every namespace on every
// server (made by the benchmark's process, whose CPU they add to).
//
//	go test -run '^$' -bench ConsolePolling -benchtime 20x ./tests/
//
// It reports, per second: the bytes the page reads, the console's CPU
// time (the benchmark's process is the console: the servers and ZooKeeper
// are processes of their own), the ZooKeeper requests, and the bytes of
// one server's /metrics (read by the console every 2s from every server).
func BenchmarkConsolePolling(b *testing.B) {
	const servers, nss = 10, 100
	zks := zktest.Start(b)
	files := map[string]string{}
	for i := range nss {
		files[fmt.Sprintf("ns%03d.lua", i)] = "--- Echoes a.\nfunction echo(a) return a end\n--- Adds a and b.\nfunction add(a, b) return a + b end\n"
	}
	var addrs []string
	var metricsURL string
	for range servers {
		dir := testutil.WriteFiles(b, files)
		s := startCLI(b, "--zk", zks.Addr, "--cluster", testLayout.Cluster, "--http", "127.0.0.1:0", dir)
		addrs = append(addrs, s.addr)
		metricsURL = httpURL(b, s) + "/metrics"
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := cluster.NewClient(ctx, cluster.ClientConfig{ZooKeeper: []string{zks.Addr}, Layout: testLayout})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	testutil.WaitFor(b, time.Minute, func() bool {
		for i := range nss {
			ss, err := c.Servers(ctx, fmt.Sprintf("ns%03d", i))
			if err != nil || len(ss) != servers {
				return false
			}
		}
		return true
	}, "every namespace on every server")
	for _, addr := range addrs {
		at := c.With(cluster.Address(addr))
		for i := range nss {
			if _, err := at.Call(ctx, fmt.Sprintf("ns%03d/echo", i), 1); err != nil {
				b.Fatal(err)
			}
		}
	}
	resp, err := http.Get(metricsURL)
	if err != nil {
		b.Fatal(err)
	}
	metricsPage, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	con, err := console.New(console.Config{Cluster: c})
	if err != nil {
		b.Fatal(err)
	}
	defer con.Close()
	web := httptest.NewServer(con)
	defer web.Close()
	// get reads path as the page does: with the ETag of what it read
	// last, if any; it returns what came over the network.
	tags := map[string]string{}
	get := func(path string) []byte {
		req, err := http.NewRequest("GET", web.URL+path, nil)
		if err != nil {
			b.Fatal(err)
		}
		if tag := tags[path]; tag != "" {
			req.Header.Set("If-None-Match", tag)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotModified {
			b.Fatalf("GET %s: %s %v", path, resp.Status, err)
		}
		tags[path] = resp.Header.Get("ETag")
		return body
	}
	testutil.WaitFor(b, time.Minute, func() bool { return strings.Count(string(get("/api/figures")), `"seq"`) >= 2 }, "the console's figures")
	page := 0
	for _, f := range []string{"/", "/app.js", "/app.css"} {
		page += len(get(f))
	}

	for _, run := range []struct {
		name       string
		open, busy bool
	}{{"idle", false, false}, {"page", true, false}, {"busy", true, true}} {
		open := run.open
		b.Run(run.name, func(b *testing.B) {
			if run.busy {
				// Calls of every namespace on every server, 1,000 a
				// second in all: every namespace and server has figures.
				stop, done := make(chan struct{}), make(chan struct{})
				go func() {
					defer close(done)
					t := time.NewTicker(time.Millisecond)
					defer t.Stop()
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						case <-t.C:
						}
						c.With(cluster.Address(addrs[i%servers])).Call(ctx, fmt.Sprintf("ns%03d/add", i%nss), 1, 2)
					}
				}()
				defer func() { close(stop); <-done }()
				testutil.WaitFor(b, time.Minute, func() bool { return strings.Count(string(get("/api/figures?after=0")), `"ns099"`) >= 2 }, "figures of every namespace")
			}
			var nsBytes, figBytes int
			last := 0
			cpu0, pk0 := cpuTime(b), packets(b, zks.Addr)
			start := time.Now()
			b.ResetTimer()
			for i := range b.N {
				if open {
					nsBytes += len(get("/api/namespaces"))
					if i%5 == 0 {
						delete(tags, "/api/namespaces") // a namespace changed, say, every 5s
					}
					body := get("/api/figures?after=" + strconv.Itoa(last))
					figBytes += len(body)
					if j := strings.LastIndex(string(body), `"seq":`); j >= 0 {
						fmt.Sscanf(string(body[j+len(`"seq":`):]), "%d", &last)
					}
				}
				time.Sleep(time.Until(start.Add(time.Duration(i+1) * time.Second)))
			}
			b.StopTimer()
			n := float64(b.N)
			b.ReportMetric(float64(nsBytes)/n, "namespaces-B/s")
			b.ReportMetric(float64(figBytes)/n, "figures-B/s")
			b.ReportMetric((cpuTime(b)-cpu0).Seconds()*1000/n, "console-CPU-ms/s")
			b.ReportMetric(float64(packets(b, zks.Addr)-pk0)/n, "zk-requests/s")
			b.ReportMetric(float64(len(metricsPage)), "metrics-B/server")
			b.ReportMetric(float64(page), "page-B")
		})
	}
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// packets is the count of requests ZooKeeper at addr has received, from
// its mntr command.
func packets(b *testing.B, addr string) int64 {
	out, err := zkrun.FourLetter(addr, "mntr")
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(out) {
		if v, ok := strings.CutPrefix(line, "zk_packets_received"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err == nil {
				return n
			}
		}
	}
	b.Fatalf("no zk_packets_received in mntr's answer")
	return 0
}
