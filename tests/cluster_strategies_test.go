package tests

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/cluster"
	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/internal/zktest"
)

// waitServers waits until the cluster client lists n servers of ns.
func waitServers(t *testing.T, c *cluster.Client, ns string, n int) []cluster.Server {
	t.Helper()
	var servers []cluster.Server
	testutil.WaitFor(t, 10*time.Second, func() bool {
		var err error
		servers, err = c.Servers(context.Background(), ns)
		return err == nil && len(servers) == n
	}, fmt.Sprintf("%d servers of %s", n, ns))
	return servers
}

// TestClusterStrategies checks the strategies that need what servers
// publish: weights, calls in flight, an explicit address; and that the
// client knows each server's data and functions.
func TestClusterStrategies(t *testing.T) {
	testutil.CheckGoroutines(t)
	zks := zktest.Start(t)
	var nodes []*node
	for i, w := range []string{"1", "1", "6"} {
		nodes = append(nodes, startNode(t, zks.Addr, whoFile(i), "--weight", w, "--server-data", fmt.Sprintf(`{"zone":"z%d"}`, i)))
	}
	c := newCluster(t, zks.Addr, nil)
	servers := waitServers(t, c, "who", 3)
	testutil.WaitFor(t, 10*time.Second, func() bool {
		servers, _ = c.Servers(context.Background(), "who")
		return len(servers) == 3 && servers[0].Data().StartedAt.After(time.Time{}) && servers[1].Data().StartedAt.After(time.Time{}) && servers[2].Data().StartedAt.After(time.Time{})
	}, "the servers' data")
	byAddr := map[string]int{}
	for i, n := range nodes {
		byAddr[n.addr] = i
	}
	for _, s := range servers {
		i := byAddr[s.Addr]
		if want := []int{1, 1, 6}[i]; s.Weight() != want || s.Data().Data["zone"] != fmt.Sprintf("z%d", i) {
			t.Errorf("server %d: weight %d, data %v", i, s.Weight(), s.Data())
		}
		if fns := s.Namespace.Functions; len(fns) != 1 || fns[0].Name != "am_i" || s.Namespace.Version == "" || s.Namespace.Stateful {
			t.Errorf("server %d: namespace %+v", i, s.Namespace)
		}
	}

	weighted := c.With(cluster.Weighted{})
	counts := make([]int, 3)
	for range 800 {
		counts[callAs[int](t, weighted, "who/am_i")]++
	}
	if counts[2] < 450 || counts[0] < 40 || counts[1] < 40 {
		t.Errorf("weighted 1, 1, 6: calls by server %v", counts)
	}

	at := c.With(cluster.Address(nodes[1].addr))
	for range 20 {
		if got := callAs[int](t, at, "who/am_i"); got != 1 {
			t.Fatalf("a call to %s answered by server %d", nodes[1].addr, got)
		}
	}
	if _, err := c.With(cluster.Address("127.0.0.1:1")).Call(context.Background(), "who/am_i"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("a call to an address that serves nothing: %v", err)
	}

	// Least in flight: concurrent callers keep every server busy.
	least := c.With(cluster.LeastInFlight{})
	counts = make([]int, 3)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 50 {
				who, err := client.CallAs[int](context.Background(), least, "who/am_i")
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				counts[who]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for i, n := range counts {
		if n < 50 {
			t.Errorf("least in flight: calls by server %v: server %d starved", counts, i)
		}
	}
}

// TestClusterBroadcast checks that CallAll reaches every server, and its
// two error policies.
func TestClusterBroadcast(t *testing.T) {
	testutil.CheckGoroutines(t)
	zks := zktest.Start(t)
	var nodes []*node
	for i := range 3 {
		files := whoFile(i)
		files["flaky.lua"] = fmt.Sprintf("function f() if %d == 1 then error('server 1 fails') end return %d end", i, i)
		nodes = append(nodes, startNode(t, zks.Addr, files))
	}
	c := newCluster(t, zks.Addr, nil)
	waitServers(t, c, "who", 3)
	answers, err := c.CallAll(context.Background(), cluster.FailIfAny, "who/am_i")
	if err != nil || len(answers) != 3 {
		t.Fatalf("CallAll: %v, %d answers", err, len(answers))
	}
	got := map[int]bool{}
	m := answers.Map()
	for i, n := range nodes {
		var who int
		if err := m[n.addr].Result.Decode(&who); err != nil || who != i {
			t.Errorf("server %d answered %v, %v", i, who, err)
		}
		got[who] = true
	}
	if len(got) != 3 {
		t.Errorf("answers %v", got)
	}

	waitServers(t, c, "flaky", 3)
	answers, err = c.CallAll(context.Background(), cluster.FailIfAny, "flaky/f")
	if !errors.Is(err, client.ErrException) || len(answers) != 3 {
		t.Fatalf("CallAll with one failing, fail if any: %v, %d answers", err, len(answers))
	}
	answers, err = c.CallAll(context.Background(), cluster.FailIfAll, "flaky/f")
	if err != nil {
		t.Fatalf("CallAll with one failing, fail if all: %v", err)
	}
	if e := answers.Map()[nodes[1].addr].Err; !errors.Is(e, client.ErrException) {
		t.Errorf("server 1's answer: %v", e)
	}
	if _, err := c.CallAll(context.Background(), cluster.FailIfAll, "nobody/f"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("CallAll of a namespace nobody serves: %v", err)
	}
}

const counterFile = `_options = {stateful = true}
local n = 0
function incr() n = n + 1 return {n = n, who = WHO} end
`

// TestClusterStateful checks that the calls of a stateful namespace all
// go to its leader, and that when the leader dies another is elected and
// takes the calls: calls meanwhile wait for it.
func TestClusterStateful(t *testing.T) {
	testutil.CheckGoroutines(t)
	zks := zktest.Start(t)
	var nodes []*node
	for i := range 3 {
		nodes = append(nodes, startNode(t, zks.Addr, map[string]string{"counter.lua": fmt.Sprintf("WHO = %d\n%s", i, counterFile)}))
		// One at a time, so that the first is the leader.
		c := newCluster(t, zks.Addr, nil)
		waitServers(t, c, "counter", i+1)
		c.Close()
	}
	c := newCluster(t, zks.Addr, nil)
	servers := waitServers(t, c, "counter", 3)
	if !servers[indexOf(servers, nodes[0].addr)].Leader {
		t.Fatalf("the first server does not lead: %+v", servers)
	}
	type answer struct{ N, Who int }
	incr := func(ctx context.Context) (answer, error) { return client.CallAs[answer](ctx, c, "counter/incr") }
	// A function the namespace lacks is not-found at once, not once the
	// deadline passes.
	start := time.Now()
	if _, err := c.Call(context.Background(), "counter/nope"); !errors.Is(err, client.ErrNotFound) || time.Since(start) > time.Second {
		t.Fatalf("counter/nope: %v after %v", err, time.Since(start))
	}
	for i := 1; i <= 100; i++ {
		a, err := incr(context.Background())
		if err != nil || a != (answer{i, 0}) {
			t.Fatalf("call %d: %+v, %v; want every call on the leader, 0", i, a, err)
		}
	}

	nodes[0].cmd.Process.Signal(syscall.SIGKILL)
	killed := time.Now()
	// The next call waits for the next leader, within its deadline. A
	// call written to the dead leader before the client saw its
	// connection close fails: it may have run.
	var a answer
	lost := 0
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var err error
		a, err = incr(ctx)
		cancel()
		if err == nil {
			break
		}
		if lost++; !errors.Is(err, client.ErrConnLost) || lost > 3 {
			t.Fatalf("a call after the leader died: %v", err)
		}
	}
	took := time.Since(killed)
	if a.Who == 0 || a.N != 1 {
		t.Fatalf("the first call after the leader died: %+v", a)
	}
	for i := 2; i <= 50; i++ {
		b, err := incr(context.Background())
		if err != nil || b != (answer{i, a.Who}) {
			t.Fatalf("call %d on the new leader: %+v, %v; want %d on %d", i, b, err, i, a.Who)
		}
	}
	t.Logf("the new leader took its first call %v after the leader's kill -9 (session timeout 2s); %d calls written to the dead leader failed", took, lost)
}

func indexOf(servers []cluster.Server, addr string) int {
	for i, s := range servers {
		if s.Addr == addr {
			return i
		}
	}
	return -1
}

// prefer picks the server at addr when it is there, else the first.
type prefer string

func (p prefer) Pick(servers []cluster.Server) (cluster.Server, error) {
	if i := indexOf(servers, string(p)); i >= 0 {
		return servers[i], nil
	}
	return servers[0], nil
}

// TestClusterIdempotent checks that a call of an idempotent namespace
// whose server dies under it is made again on another server, and that a
// call of another namespace is not.
func TestClusterIdempotent(t *testing.T) {
	testutil.CheckGoroutines(t)
	zks := zktest.Start(t)
	files := func(fn string) map[string]string {
		return map[string]string{
			"idem.lua": "_options = {idempotent = true}\nfunction f() " + fn + " end",
			"once.lua": "function f() " + fn + " end",
		}
	}
	stuck := startNode(t, zks.Addr, files("while true do end"))
	startNode(t, zks.Addr, files("return 'ok'"))
	c := newCluster(t, zks.Addr, prefer(stuck.addr))
	for _, ns := range []string{"idem", "once"} {
		waitServers(t, c, ns, 2)
	}

	type result struct {
		got string
		err error
	}
	results := map[string]chan result{"idem": make(chan result, 1), "once": make(chan result, 1)}
	for ns, ch := range results {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			got, err := client.CallAs[string](ctx, c, ns+"/f")
			ch <- result{got, err}
		}()
	}
	testutil.WaitFor(t, 10*time.Second, func() bool {
		servers, _ := c.Servers(context.Background(), "idem")
		i := indexOf(servers, stuck.addr)
		return i >= 0 && servers[i].InFlight() == 2 // the server's, of both namespaces
	}, "both calls to run on the stuck server")
	stuck.cmd.Process.Signal(syscall.SIGKILL)
	<-stuck.done // so that its connections are refused
	stuck.done <- nil
	// Until its registration goes, a call to its address says why it
	// failed: it could not be sent.
	if _, err := c.With(cluster.Address(stuck.addr)).Call(context.Background(), "idem/f"); !errors.Is(err, client.ErrNotSent) {
		t.Errorf("a call to the killed server's address: %v, want ErrNotSent", err)
	}
	if r := <-results["idem"]; r.err != nil || r.got != "ok" {
		t.Errorf("the idempotent call: %q, %v; want it made again elsewhere", r.got, r.err)
	}
	r := <-results["once"]
	if !errors.Is(r.err, client.ErrConnLost) || errors.Is(r.err, client.ErrNotSent) {
		t.Errorf("the other call: %q, %v; want ErrConnLost", r.got, r.err)
	}
	if se := (*client.ServerError)(nil); !errors.As(r.err, &se) || se.Addr != stuck.addr {
		t.Errorf("the other call's error %v does not name the killed server, %s", r.err, stuck.addr)
	}
}

// TestClusterInterceptors checks that a cluster client's interceptors see
// each call once, and those of its connections each server it was tried
// on: a call whose server was killed is tried there, not sent, and made on
// the other.
func TestClusterInterceptors(t *testing.T) {
	testutil.CheckGoroutines(t)
	zks := zktest.Start(t)
	// Its registration outlives it for the test.
	first := startNode(t, zks.Addr, whoFile(0), "--zk-session-timeout", "30s")
	startNode(t, zks.Addr, whoFile(1))
	var mu sync.Mutex
	var calls, tries []string
	record := func(to *[]string) client.Interceptor {
		return func(next client.CallFunc) client.CallFunc {
			return func(ctx context.Context, name string, args []any) (client.Result, error) {
				res, err := next(ctx, name, args)
				mu.Lock()
				defer mu.Unlock()
				*to = append(*to, fmt.Sprintf("%s: %v", name, errors.Is(err, client.ErrNotSent)))
				return res, err
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := cluster.NewClient(ctx, cluster.ClientConfig{
		ZooKeeper:    []string{zks.Addr},
		Layout:       testLayout,
		Picker:       prefer(first.addr),
		Interceptors: []client.Interceptor{record(&calls)},
		Client:       client.Config{Interceptors: []client.Interceptor{record(&tries)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitServers(t, c, "who", 2)
	if got := callAs[int](t, c, "who/am_i"); got != 0 {
		t.Fatalf("who/am_i = %d, want 0, the preferred server's", got)
	}
	first.cmd.Process.Signal(syscall.SIGKILL)
	<-first.done // so that its connections are refused
	first.done <- nil
	// Once the client knows the connection is gone, the calls to the
	// killed server are not sent.
	testutil.WaitFor(t, 5*time.Second, func() bool {
		_, err := c.With(cluster.Address(first.addr)).Call(context.Background(), "who/am_i")
		return errors.Is(err, client.ErrNotSent)
	}, "a call to the killed server not to be sent")
	mu.Lock()
	calls, tries = calls[:1], tries[:1]
	mu.Unlock()
	if got := callAs[int](t, c, "who/am_i"); got != 1 {
		t.Fatalf("who/am_i with the preferred server killed = %d, want 1", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"who/am_i: false", "who/am_i: false"}; !slices.Equal(calls, want) {
		t.Errorf("the cluster's interceptor saw %q, want %q", calls, want)
	}
	if want := []string{"who/am_i: false", "who/am_i: true", "who/am_i: false"}; !slices.Equal(tries, want) {
		t.Errorf("the connections' interceptor saw %q (whether the try was not sent), want %q", tries, want)
	}
}
