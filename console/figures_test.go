package console

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/cluster"
	"github.com/slacker-lua/slacker-lua/internal/testutil"
)

func TestQuantile(t *testing.T) {
	b := bounds{.001, .01, .1, math.Inf(1)}
	for _, tc := range []struct {
		cum  []float64
		q    float64
		want float64 // ms
	}{
		{[]float64{0, 0, 0, 0}, .5, 0},          // no calls
		{[]float64{100, 100, 100, 100}, .5, .5}, // all in the first bucket: half of its bound
		{[]float64{50, 100, 100, 100}, .5, 1},   // the rank on the first bound
		{[]float64{50, 100, 100, 100}, .99, 9.82},
		{[]float64{0, 0, 0, 10}, .99, 100}, // beyond the last bound: the last bound
		{[]float64{1, 2}, .5, 0},           // not the bounds' buckets
	} {
		if got := b.quantile(tc.cum, tc.q); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("quantile(%v, %v) = %v ms, want %v", tc.cum, tc.q, got, tc.want)
		}
	}
}

func TestRestarted(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	b := bounds{.001, math.Inf(1)}
	base := &scrape{started: t0, bounds: b, calls: map[string]float64{"m": 10}, errors: map[string]float64{"m": 2}, buckets: map[string][]float64{"m": {5, 10}}}
	for _, tc := range []struct {
		name string
		cur  *scrape
		want bool
	}{
		{"more calls", &scrape{started: t0, bounds: b, calls: map[string]float64{"m": 12}, errors: map[string]float64{"m": 2}, buckets: map[string][]float64{"m": {6, 12}}}, false},
		{"another start", &scrape{started: t0.Add(time.Second), bounds: b, calls: map[string]float64{"m": 12}, errors: map[string]float64{"m": 2}, buckets: map[string][]float64{"m": {6, 12}}}, true},
		{"fewer calls", &scrape{started: t0, bounds: b, calls: map[string]float64{"m": 3}, errors: map[string]float64{"m": 2}, buckets: map[string][]float64{"m": {1, 3}}}, true},
		{"fewer errors only", &scrape{started: t0, bounds: b, calls: map[string]float64{"m": 12}, errors: map[string]float64{"m": 1}, buckets: map[string][]float64{"m": {6, 12}}}, true},
		{"a bucket down", &scrape{started: t0, bounds: b, calls: map[string]float64{"m": 12}, errors: map[string]float64{"m": 2}, buckets: map[string][]float64{"m": {4, 12}}}, true},
		{"other bounds", &scrape{started: t0, bounds: bounds{.01, math.Inf(1)}, calls: map[string]float64{"m": 12}, errors: map[string]float64{"m": 2}, buckets: map[string][]float64{"m": {6, 12}}}, true},
	} {
		if got := restarted(base, tc.cur); got != tc.want {
			t.Errorf("%s: restarted %v, want %v", tc.name, got, tc.want)
		}
	}
	if d := deltas([]float64{2, 5}, []float64{1, 3}); d[0] != 1 || d[1] != 2 {
		t.Errorf("deltas: %v", d)
	}
	if q := (bounds{math.Inf(1)}).quantile([]float64{5}, .5); q != 0 {
		t.Errorf("a histogram of no bound: %v", q)
	}
}

// fakeServer is a server's HTTP listener, with /metrics saying it served
// calls calls (fails of them failed) of the namespace "math", all in
// 0.5-1 ms.
type fakeServer struct {
	*httptest.Server
	mu           sync.Mutex
	calls, fails int
	admin        []string // the admin requests, as "METHOD path?query token"
}

func newFakeServer(t *testing.T) *fakeServer {
	f := &fakeServer{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		switch {
		case r.URL.Path == "/metrics":
			ok := f.calls - f.fails
			fmt.Fprintf(w, "# TYPE slacker_calls_total counter\n"+
				"slacker_calls_total{code=\"success\",function=\"add\",namespace=\"math\"} %d\n"+
				"slacker_calls_total{code=\"exception\",function=\"add\",namespace=\"math\"} %d\n"+
				"# TYPE slacker_call_duration_seconds histogram\n"+
				"slacker_call_duration_seconds_bucket{function=\"add\",namespace=\"math\",le=\"0.0005\"} 0\n"+
				"slacker_call_duration_seconds_bucket{function=\"add\",namespace=\"math\",le=\"0.001\"} %d\n"+
				"slacker_call_duration_seconds_bucket{function=\"add\",namespace=\"math\",le=\"+Inf\"} %d\n"+
				"slacker_call_duration_seconds_sum{function=\"add\",namespace=\"math\"} 1\n"+
				"slacker_call_duration_seconds_count{function=\"add\",namespace=\"math\"} %d\n"+
				"# TYPE slacker_calls_in_flight gauge\nslacker_calls_in_flight 2\n", ok, f.fails, f.calls, f.calls, f.calls)
		case r.URL.Path == "/slacker-lua.status/failures.json":
			io.WriteString(w, `[{"file":"bad.lua","namespace":"bad","version":"x","error":"bad.lua:3: syntax error"}]`)
		case strings.HasPrefix(r.URL.Path, "/_admin/"):
			f.admin = append(f.admin, r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("Authorization"))
			io.WriteString(w, `{"offline":true,"offline_namespaces":[],"weight":1}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeServer) serve(calls, fails int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls += calls
	f.fails += fails
}

// fakeCluster is a cluster of servers at addresses, each with its HTTP
// listener's URL.
type fakeCluster struct{ http map[string]string }

func (c fakeCluster) Namespaces(context.Context) ([]string, error) { return []string{"math"}, nil }
func (c fakeCluster) ServerAddrs(context.Context) ([]string, error) {
	var out []string
	for a := range c.http {
		out = append(out, a)
	}
	return out, nil
}
func (c fakeCluster) Servers(context.Context, string) ([]cluster.Server, error) { return nil, nil }
func (c fakeCluster) ServerData(_ context.Context, addr string) (cluster.ServerData, bool, error) {
	u, ok := c.http[addr]
	return cluster.ServerData{HTTP: u}, ok, nil
}
func (c fakeCluster) Call(context.Context, string, ...any) (client.Result, error) {
	return client.Result{}, client.ErrNotFound
}
func (c fakeCluster) With(cluster.Picker) client.Caller { return c }

// TestFigures checks the figures the console makes of two servers'
// /metrics: the calls and errors per second of each, of the namespace and
// of the cluster, the quantiles, and a server that publishes no HTTP
// address.
func TestFigures(t *testing.T) {
	a, b := newFakeServer(t), newFakeServer(t)
	c := fakeCluster{http: map[string]string{"a:1": a.URL, "b:1": b.URL, "c:1": ""}}
	f := newFigures(c, http.DefaultClient, "", slog.New(slog.DiscardHandler), 100*time.Millisecond, time.Minute, time.Second)
	defer f.close()
	testutil.WaitFor(t, 5*time.Second, func() bool { return len(f.since(0).Points) >= 1 }, "a first point")
	a.serve(1000, 100)
	b.serve(500, 0)
	var pa, pb Point // the points with a's calls, and b's
	testutil.WaitFor(t, 5*time.Second, func() bool {
		for _, q := range f.since(0).Points {
			if q.Servers["a:1"].Calls > 0 {
				pa = q
			}
			if q.Servers["b:1"].Calls > 0 {
				pb = q
			}
		}
		return pa.Seq > 0 && pb.Seq > 0
	}, "the points with the calls")
	if fa := pa.Servers["a:1"]; math.Abs(fa.Errors/fa.Calls-.1) > 1e-9 {
		t.Errorf("a's figure %+v: want an error in 10 calls", fa)
	}
	if fb := pb.Servers["b:1"]; fb.Errors != 0 {
		t.Errorf("b's figure %+v: want no error", fb)
	}
	for _, q := range f.since(0).Points {
		sum := q.Servers["a:1"].Calls + q.Servers["b:1"].Calls
		if math.Abs(q.Namespaces["math"].Calls-sum) > 1e-9 || math.Abs(q.Cluster.Calls-sum) > 1e-9 {
			t.Errorf("point %d: the servers' calls add to %v/s; math's %+v, the cluster's %+v", q.Seq, sum, q.Namespaces["math"], q.Cluster)
		}
	}
	if pa.Cluster.InFlight != 4 {
		t.Errorf("in flight: %v, want 2 on each server", pa.Cluster.InFlight)
	}
	if q := pa.Servers["a:1"]; q.P50 != .75 || q.P99 <= .99 || q.P99 > 1 {
		t.Errorf("a's quantiles: p50 %v, p99 %v ms; want .75 and about 1", q.P50, q.P99)
	}
	p := pa
	all := f.since(0)
	if later := f.since(p.Seq); len(later.Points) >= len(all.Points) || len(later.Points) > 0 && later.Points[0].Seq <= p.Seq {
		t.Errorf("since(%d): %d points of %d", p.Seq, len(later.Points), len(all.Points))
	}
	if fs := all.Failures["a:1"]; len(fs) != 1 || fs[0].Error != "bad.lua:3: syntax error" {
		t.Errorf("a's failures: %+v", fs)
	}
	if why := all.Unreachable["c:1"]; !strings.Contains(why, "--http") {
		t.Errorf("c, with no HTTP address: %q", why)
	}
}

// TestFiguresHostileServers checks that a server whose /metrics never
// ends, or never answers, is reported unreachable while the figures of
// the others go on, and that the console reads no more of it than its
// bound.
func TestFiguresHostileServers(t *testing.T) {
	good := newFakeServer(t)
	endless := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		line := []byte(`slacker_calls_total{code="success",function="f",namespace="` + strings.Repeat("x", 100) + `"} 1` + "\n")
		for r.Context().Err() == nil {
			if _, err := w.Write(line); err != nil {
				return
			}
		}
	}))
	defer endless.Close()
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer stuck.Close()
	c := fakeCluster{http: map[string]string{"good:1": good.URL, "endless:1": endless.URL, "stuck:1": stuck.URL}}
	f := newFigures(c, http.DefaultClient, "", slog.New(slog.DiscardHandler), 100*time.Millisecond, time.Minute, time.Second)
	defer f.close()
	testutil.WaitFor(t, 10*time.Second, func() bool { return len(f.since(0).Points) >= 1 }, "a first point")
	good.serve(100, 0)
	begin := time.Now()
	testutil.WaitFor(t, 10*time.Second, func() bool {
		for _, p := range f.since(0).Points {
			if p.Servers["good:1"].Calls > 0 {
				return true
			}
		}
		return false
	}, "the good server's calls")
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("the good server's calls took %v to show", d)
	}
	down := f.since(0).Unreachable
	if !strings.Contains(down["stuck:1"], "deadline") && !strings.Contains(down["stuck:1"], "Timeout") {
		t.Errorf("the stuck server: %q", down["stuck:1"])
	}
	if !strings.Contains(down["endless:1"], "larger than 8 MiB") {
		t.Errorf("the endless server: %q", down["endless:1"])
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	if ms.HeapAlloc > 64<<20 {
		t.Errorf("heap %d MiB after reading an endless /metrics", ms.HeapAlloc>>20)
	}
}

// TestFiguresManySlowServers checks that each server's scrape has its own
// time: 32 servers that take 250 ms each, 8 at a time, all within a
// round whose servers each have 500 ms.
func TestFiguresManySlowServers(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" {
			time.Sleep(250 * time.Millisecond)
			io.WriteString(w, "# TYPE slacker_calls_in_flight gauge\nslacker_calls_in_flight 1\n")
			return
		}
		io.WriteString(w, "[]")
	}))
	defer slow.Close()
	c := fakeCluster{http: map[string]string{}}
	for i := range 32 {
		c.http[fmt.Sprintf("127.0.0.1:%d", i+1)] = slow.URL
	}
	f := newFigures(c, http.DefaultClient, "", slog.New(slog.DiscardHandler), 500*time.Millisecond, time.Minute, 500*time.Millisecond)
	defer f.close()
	testutil.WaitFor(t, 20*time.Second, func() bool { return len(f.since(0).Points) >= 2 }, "two rounds")
	fs := f.since(0)
	if len(fs.Unreachable) > 0 || fs.Points[len(fs.Points)-1].Cluster.InFlight != 32 {
		t.Errorf("%d servers unreachable (%v), %v in flight; want none, and 32", len(fs.Unreachable), fs.Unreachable, fs.Points[len(fs.Points)-1].Cluster.InFlight)
	}
}
