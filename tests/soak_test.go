package tests

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/bits"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/cluster"
	"github.com/slacker-lua/slacker-lua/internal/loadgen"
	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/internal/zktest"
	"github.com/slacker-lua/slacker-lua/transport"
)

var soakFor = flag.Duration("soak", 0, "how long TestSoak runs its load and faults, such as 30m (0: the short run of the default suite)")

// The short run's length, and how the run is cut into cycles of faults
// and into intervals of the latency report.
const (
	soakShort       = 30 * time.Second
	soakLongCycle   = time.Minute
	soakShortReport = 5 * time.Second
	soakLongReport  = time.Minute
)

// Bounds on the servers at the end of a soak. Goroutines: once every
// client has gone, each server runs at most soakGoroutineSlack more than
// it ran, idle, before the load began (idle workers end within 5 s).
// Server 0, never killed, has run the whole soak; servers 1 and 2 have
// run since their last restart. Memory: the resident size of server 0
// grows by at most soakRSSGrowth from the end of the warm-up to the end
// of the load.
const (
	soakGoroutineSlack = 5
	soakRSSGrowth      = 1.5
)

// soakStale is how long after a server's process is gone a call sent to
// it may still fail as in flight: the client sends on a connection until
// its reader has read that the server closed it.
const soakStale = 100 * time.Millisecond

// soakZKBack is how long after ZooKeeper answers again a new cluster
// client's connection counts as one made during the outage: its client
// tries a server again once a second.
const soakZKBack = 2 * time.Second

// The namespaces of the soak. soak.api is served by every server and
// reloaded all along; soak.state (stateful) only by the servers that are
// killed, so that each kill takes its leader.
const (
	soakAPI = `local M = {}
local version = %d
function M.add(a, b) return a + b end
function M.version() return version end
function M.fail() error("the expected failure") end
function M.spin(ms)
  local till = slacker.now() + ms
  while slacker.now() < till do end
  return ms
end
return M
`
	soakIdem  = "_options = {idempotent = true}\nfunction echo(x) return x end\n"
	soakState = "_options = {stateful = true}\nlocal n = 0\nfunction incr() n = n + 1 return n end\n"
	soakExtra = "function hello() return 'hello' end\n"
)

// TestSoak runs three servers of a cluster, real processes on a real
// ZooKeeper, under mixed load from a cluster client's callers, while
// soak.api's files are rewritten and a namespace comes and goes, a
// server is killed twice a cycle and restarted, once before its
// ZooKeeper session expires and once after (the leader of the stateful
// namespace, served by servers 1 and 2, as the cluster client knows it),
// ZooKeeper is stopped past the servers' session timeout and restarted,
// and clients of either kind and HTTP callers connect, call and
// disconnect.
//
// It fails on any call that failed or gave a wrong result, but for a
// connection lost with a killed server by a call in flight on it (sent
// before its process was gone, or up to soakStale after); on servers that
// end with more goroutines or memory than the bounds above; and on a soak
// that made no call, kill or outage, or whose outages made server 0
// register in a new session.
//
// By default the run lasts soakShort, one cycle of faults; -soak=30m
// runs a cycle a minute for 30 minutes:
//
//	go test -run TestSoak -timeout 40m -v ./tests -soak=30m
//
// The log has the report: calls made and failed by cause, latencies by
// interval, and the servers' goroutines and resident memory.
func TestSoak(t *testing.T) {
	if testing.Short() && *soakFor == 0 {
		t.Skip("the soak takes 30s")
	}
	// go-zookeeper may leave a connection's loop blocked when a client
	// closes it while ZooKeeper is out: its flushRequests sends an error
	// to a request whose channel (of 2) another error filled already. The
	// race is the dependency's, and the soak closes clients in outages.
	testutil.CheckGoroutinesExcept(t, "github.com/go-zookeeper/zk.(*Conn).flushRequests")
	length, cycle, step := soakShort, soakShort, soakShortReport
	if *soakFor > 0 {
		length, cycle, step = *soakFor, soakLongCycle, soakLongReport
	}
	zks := zktest.Start(t)
	sk := &soak{t: t, zk: zks, step: step, cycle: cycle, failures: make(map[string]int), expected: make(map[string]int),
		slowest: make(map[string]slowCall)}
	for i := range 3 {
		files := map[string]string{"soak/api.lua": fmt.Sprintf(soakAPI, 1), "soak/idem.lua": soakIdem}
		if i > 0 {
			files["soak/state.lua"] = soakState
		}
		srv := &soakServer{i: i, dir: testutil.WriteFiles(t, files)}
		sk.servers = append(sk.servers, srv)
		sk.start(srv)
	}
	defer func() {
		if t.Failed() {
			for _, s := range sk.servers {
				if s.cli != nil {
					t.Logf("server %d's log:\n%s", s.i, s.cli.log())
				}
			}
		}
	}()
	c, err := sk.cluster(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	sk.c = c
	for _, ns := range []string{"soak.api", "soak.idem"} {
		waitServers(t, c, ns, 3)
	}
	waitServers(t, c, "soak.state", 2)
	var fig soakFigures
	for _, s := range sk.servers {
		fig.idle = append(fig.idle, scrape(t, s.web)["go_goroutines"])
	}

	ctx, stop := context.WithCancel(context.Background())
	sk.begin = time.Now()
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() { sk.caller(ctx, c) })
	}
	wg.Go(func() { sk.churnClusters(ctx) })
	wg.Go(func() { sk.churnClients(ctx) })
	wg.Go(func() { sk.churnHTTP(ctx) })
	wg.Go(func() { sk.reloads(ctx) })
	halt := sync.OnceFunc(func() {
		stop()
		wg.Wait()
		c.Close()
	})
	t.Cleanup(halt) // before the servers and ZooKeeper are stopped, should the test end early

	// The faults, a cycle at a time, from this goroutine.
	warm := time.NewTimer(length / 5)
	for start := sk.begin; time.Since(sk.begin)+cycle/2 < length || start == sk.begin; start = start.Add(cycle) {
		sk.at(start.Add(cycle/10), warm, &fig)
		sk.kill(sk.leader(), time.Second) // restarted before its session expires
		sk.at(start.Add(4*cycle/10), warm, &fig)
		sk.zkOutage(4 * time.Second)
		sk.at(start.Add(7*cycle/10), warm, &fig)
		sk.kill(sk.leader(), 3*time.Second) // restarted after
	}
	sk.at(sk.begin.Add(length), warm, &fig)
	m := scrape(t, sk.servers[0].web)
	fig.rssEnd, fig.goEnd = m["process_resident_memory_bytes"], m["go_goroutines"]
	fig.sessions = m["slacker_zookeeper_sessions_total"]
	halt()
	fig.elapsed = time.Since(sk.begin)

	// Every server, its clients gone, comes back to its goroutines before
	// the load.
	back := false
	for deadline := time.Now().Add(30 * time.Second); !back && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		back, fig.settled = true, fig.settled[:0]
		for i, s := range sk.servers {
			m := scrape(t, s.web)
			fig.settled = append(fig.settled, m["go_goroutines"])
			back = back && fig.settled[i] <= fig.idle[i]+soakGoroutineSlack && m["slacker_connections"] == 0
		}
	}

	t.Log(sk.report(&fig))
	if !back {
		t.Errorf("the servers' goroutines before the load, %v, and 30s after it: %v (bound +%d), or connections still open", fig.idle, fig.settled, soakGoroutineSlack)
	}
	if n := sum(sk.failures); n > 0 {
		t.Errorf("%d calls failed that were not in flight on a killed server; the first: %v", n, sk.first)
	}
	if sk.calls.Load() == 0 || sk.kills == 0 || sk.outages == 0 {
		t.Errorf("the soak made %d calls, %d kills and %d ZooKeeper outages", sk.calls.Load(), sk.kills, sk.outages)
	}
	// ZooKeeper, restarted with its data after each outage, keeps the
	// sessions it had, whose clocks start again with it: server 0 stays
	// registered in its first session.
	if fig.sessions != 1 {
		t.Errorf("server 0 registered in %.0f ZooKeeper sessions through %d outages past its session timeout, want its first only", fig.sessions, sk.outages)
	}
	if fig.rssWarm == 0 || fig.rssEnd > soakRSSGrowth*fig.rssWarm {
		t.Errorf("server 0's resident memory: %.1f MiB after the warm-up, %.1f MiB at the end; bound %.1fx", fig.rssWarm/(1<<20), fig.rssEnd/(1<<20), soakRSSGrowth)
	}
}

// soakFigures are the servers' figures a soak reports.
type soakFigures struct {
	elapsed         time.Duration
	idle, settled   []float64 // each server's goroutines, before the load and after it
	rssWarm, rssEnd float64   // server 0's resident bytes, at the end of the warm-up and of the load
	goWarm, goEnd   float64   // server 0's goroutines then
	sessions        float64   // server 0's ZooKeeper sessions
}

// soak is the state of TestSoak: its servers and ZooKeeper, owned by the
// test's goroutine, and what the load goroutines record.
type soak struct {
	t       *testing.T
	zk      *zktest.Server
	servers []*soakServer
	begin   time.Time
	c       *cluster.Client // the callers'
	step    time.Duration   // of the latency report
	cycle   time.Duration   // of the faults

	kills, outages int // by the test's goroutine only
	leaderKills    int // kills of soak.state's leader, as the cluster client knew it
	moved          int // restarts on another port

	calls    atomic.Int64 // made, with any outcome
	reloaded atomic.Int64 // files rewritten
	churned  atomic.Int64 // clients opened and closed

	mu       sync.Mutex
	killed   []downtime          // the kills, with when each server was down
	zkDown   []downtime          // ZooKeeper's outages, to when it answered again
	unopened [2]int              // cluster clients that could not connect: during outages, and not
	failures map[string]int      // unexpected outcomes, by cause
	expected map[string]int      // failures allowed, by cause
	first    error               // the first unexpected failure
	details  []string            // the first unexpected failures
	hists    []hist              // the latencies by interval
	slowest  map[string]slowCall // by what was called
}

// downtime is when a server was being killed: from the signal until
// its process was gone.
type downtime struct {
	addr     string
	from, to time.Time
}

// soakServer is one server of the soak, restarted on its address and
// folder after a kill.
type soakServer struct {
	i    int
	dir  string
	addr string // kept across restarts, unless its port was taken
	cli  *cliServer
	web  string // the HTTP listener's base URL, which changes with each start
}

// start starts s, on its address once it has one. Should the port have
// been taken meanwhile, as the local port of a connection, s starts on
// another after a few tries.
func (sk *soak) start(s *soakServer) {
	sk.t.Helper()
	args := []string{"--zk", sk.zk.Addr, "--cluster", testLayout.Cluster, "--zk-session-timeout", "2s",
		"--leave-delay", "300ms", "--http", "127.0.0.1:0"}
	for try := 0; ; try++ {
		listen := s.addr
		if listen == "" || try == 5 {
			listen = "127.0.0.1:0"
		}
		cli, err := tryCLI(sk.t, append(args, "--listen", listen, s.dir)...)
		if err == nil {
			s.cli = cli
			break
		}
		if try == 5 {
			sk.t.Fatal(err)
		}
		sk.t.Logf("server %d did not start again on %s: %v", s.i, listen, err)
		time.Sleep(time.Second)
	}
	if s.addr != "" && s.addr != s.cli.addr {
		sk.moved++
	}
	s.addr, s.web = s.cli.addr, httpURL(sk.t, s.cli)
}

// leader returns the server that leads soak.state, or else server 1 or 2
// in turn.
func (sk *soak) leader() *soakServer {
	for _, s := range sk.servers {
		if sk.leads(s) {
			return s
		}
	}
	return sk.servers[1+sk.kills%2]
}

// leads reports whether s leads soak.state, as the cluster client knows.
func (sk *soak) leads(s *soakServer) bool {
	servers, _ := sk.c.Servers(context.Background(), "soak.state")
	return slices.ContainsFunc(servers, func(l cluster.Server) bool { return l.Leader && l.Addr == s.addr })
}

// kill kills s at once, as a crash would, and starts it again after down.
func (sk *soak) kill(s *soakServer, down time.Duration) {
	if sk.leads(s) {
		sk.leaderKills++
	}
	sk.mu.Lock()
	i := len(sk.killed)
	sk.killed = append(sk.killed, downtime{addr: s.addr, from: time.Now(), to: time.Now().Add(time.Hour)})
	sk.mu.Unlock()
	s.cli.cmd.Process.Signal(syscall.SIGKILL)
	err := <-s.cli.done
	s.cli.done <- err
	sk.mu.Lock()
	sk.killed[i].to = time.Now()
	sk.mu.Unlock()
	sk.kills++
	time.Sleep(down)
	sk.start(s)
}

// zkOutage stops ZooKeeper for down, and starts it again with its data.
func (sk *soak) zkOutage(down time.Duration) {
	sk.mu.Lock()
	i := len(sk.zkDown)
	sk.zkDown = append(sk.zkDown, downtime{from: time.Now(), to: time.Now().Add(time.Hour)})
	sk.mu.Unlock()
	sk.zk.Stop()
	time.Sleep(down)
	sk.zk.Restart(false) // once it answers
	sk.mu.Lock()
	sk.zkDown[i].to = time.Now()
	sk.mu.Unlock()
	sk.outages++
}

// notOpened counts a cluster client that could not connect to ZooKeeper
// within a second of tried, during an outage or not.
func (sk *soak) notOpened(tried time.Time) {
	sk.mu.Lock()
	defer sk.mu.Unlock()
	if slices.ContainsFunc(sk.zkDown, func(d downtime) bool {
		return !tried.Before(d.from.Add(-time.Second)) && !tried.After(d.to.Add(soakZKBack))
	}) {
		sk.unopened[0]++
	} else {
		sk.unopened[1]++
	}
}

// at waits until when, taking server 0's figures at the end of the
// warm-up if it comes first.
func (sk *soak) at(when time.Time, warm *time.Timer, fig *soakFigures) {
	warmed := func() {
		m := scrape(sk.t, sk.servers[0].web)
		fig.rssWarm, fig.goWarm = m["process_resident_memory_bytes"], m["go_goroutines"]
	}
	for {
		wait := time.Until(when)
		if wait <= 0 {
			select {
			case <-warm.C: // late, after a fault that took longer
				warmed()
			default:
			}
			return
		}
		select {
		case <-warm.C:
			warmed()
		case <-time.After(wait):
			return
		}
	}
}

// cluster returns a new cluster client, connected to ZooKeeper within
// wait.
func (sk *soak) cluster(wait time.Duration) (*cluster.Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	return cluster.NewClient(ctx, cluster.ClientConfig{ZooKeeper: []string{sk.zk.Addr}, Layout: testLayout, SessionTimeout: 2 * time.Second})
}

// caller calls c without pause until ctx is done: 55% soak.api/add, 15%
// the idempotent echo, 12% the stateful incr, 10% soak.api/version, 7.5%
// a function that fails, and 0.5% one that takes 5ms.
func (sk *soak) caller(ctx context.Context, c *cluster.Client) {
	r := rand.New(rand.NewPCG(rand.Uint64(), 0))
	var tl tally
	defer sk.merge(&tl)
	for ctx.Err() == nil {
		start := time.Now()
		var name string
		var err error
		var ok bool
		switch n := r.IntN(1000); {
		case n < 550:
			name = "soak.api/add"
			a, b := r.IntN(1000), r.IntN(1000)
			var got int
			got, err = client.CallAs[int](context.Background(), c, name, a, b)
			ok = got == a+b
		case n < 700:
			name = "soak.idem/echo"
			var got string
			got, err = client.CallAs[string](context.Background(), c, name, "soak")
			ok = got == "soak"
		case n < 820:
			name = "soak.state/incr"
			var got int
			got, err = client.CallAs[int](context.Background(), c, name)
			ok = got > 0
		case n < 920:
			name = "soak.api/version"
			var got int
			got, err = client.CallAs[int](context.Background(), c, name)
			ok = got > 0
		case n < 995:
			name = "soak.api/fail"
			_, err = c.Call(context.Background(), name)
			if errors.Is(err, client.ErrException) && strings.Contains(err.Error(), "the expected failure") {
				err, ok = nil, true
			} else if err == nil {
				err = errors.New("soak.api/fail did not fail")
			}
		default:
			name = "soak.api/spin"
			var got int
			got, err = client.CallAs[int](context.Background(), c, name, 5)
			ok = got == 5
		}
		if err == nil && !ok {
			err = errors.New("a wrong result")
		}
		sk.record(&tl, name, start, err)
	}
}

// churnClusters opens cluster clients one after another, each making a
// few calls and closing. While ZooKeeper is down, they can't open.
func (sk *soak) churnClusters(ctx context.Context) {
	var tl tally
	defer sk.merge(&tl)
	for ctx.Err() == nil {
		tried := time.Now()
		c, err := sk.cluster(time.Second)
		if err != nil {
			sk.notOpened(tried)
			continue
		}
		sk.addTen(&tl, "soak.api/add, new cluster clients", c, 1)
		c.Close()
		sk.churned.Add(1)
		pause(ctx, 50*time.Millisecond)
	}
}

// churnClients dials server 0 again and again, making a few calls on each
// connection.
func (sk *soak) churnClients(ctx context.Context) {
	var tl tally
	defer sk.merge(&tl)
	for ctx.Err() == nil {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c, err := client.Dial(dctx, sk.servers[0].addr, client.Config{ContentType: transport.ContentMsgpack})
		cancel()
		if err != nil && ctx.Err() != nil {
			return // the load ended while dialling
		}
		if err != nil {
			sk.unexpected(fmt.Errorf("dialling server 0: %w", err))
			pause(ctx, time.Second)
			continue
		}
		sk.addTen(&tl, "soak.api/add, new clients of server 0", c, 2)
		c.Close()
		sk.churned.Add(1)
		pause(ctx, 20*time.Millisecond)
	}
}

// addTen calls soak.api/add(a, b) on c for a from 0 to 9.
func (sk *soak) addTen(tl *tally, what string, c client.Caller, b int) {
	for a := range 10 {
		start := time.Now()
		got, err := client.CallAs[int](context.Background(), c, "soak.api/add", a, b)
		if err == nil && got != a+b {
			err = errors.New("a wrong result")
		}
		sk.record(tl, what, start, err)
	}
}

// churnHTTP calls server 0's HTTP gateway, a connection per call.
func (sk *soak) churnHTTP(ctx context.Context) {
	var tl tally
	defer sk.merge(&tl)
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	for ctx.Err() == nil {
		start := time.Now()
		err := func() error {
			resp, err := hc.Post(sk.servers[0].web+"/soak.api/add.json", "application/json", strings.NewReader("[40, 2]"))
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			if resp.StatusCode != 200 || string(body) != "42" {
				return fmt.Errorf("HTTP %d: %s", resp.StatusCode, body)
			}
			return nil
		}()
		sk.record(&tl, "soak.api/add over HTTP, a connection each", start, err)
		pause(ctx, 10*time.Millisecond)
	}
}

// reloads rewrites soak.api's file on a server picked at random every
// 200ms, while the server may be down, and adds or removes soak.extra on
// server 0 every second.
func (sk *soak) reloads(ctx context.Context) {
	extra := filepath.Join(sk.servers[0].dir, "soak", "extra.lua")
	for n := 1; ctx.Err() == nil; n++ {
		pause(ctx, 200*time.Millisecond)
		s := sk.servers[rand.IntN(len(sk.servers))]
		// Written whole under another name and renamed over the file, as
		// deployments do, so that no server reads half a file.
		path := filepath.Join(s.dir, "soak", "api.lua")
		if err := os.WriteFile(path+".tmp", fmt.Appendf(nil, soakAPI, n+1), 0o644); err != nil {
			sk.unexpected(err)
			continue
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			sk.unexpected(err)
			continue
		}
		sk.reloaded.Add(1)
		if n%5 == 0 {
			var err error
			if n%10 == 0 {
				err = os.Remove(extra)
			} else {
				err = os.WriteFile(extra, []byte(soakExtra), 0o644)
			}
			if err != nil {
				sk.unexpected(err)
			}
		}
	}
}

// pause waits for d or ctx, whichever comes first.
func pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// tally is what one goroutine of the load measured, merged into the
// soak's when it ends.
type tally struct {
	lat     []hist              // by interval
	slowest map[string]slowCall // by what was called
}

// slowCall is the slowest call of a kind: how long it took, and when it
// began, from the soak's start.
type slowCall struct{ took, at time.Duration }

// record counts a call of what that started at start and ended now with
// err, and adds its latency to tl.
func (sk *soak) record(tl *tally, what string, start time.Time, err error) {
	end := time.Now()
	took := end.Sub(start)
	sk.calls.Add(1)
	i := int(end.Sub(sk.begin) / sk.step)
	for len(tl.lat) <= i {
		tl.lat = append(tl.lat, hist{})
	}
	tl.lat[i].add(took)
	if tl.slowest == nil {
		tl.slowest = make(map[string]slowCall)
	}
	if took > tl.slowest[what].took {
		tl.slowest[what] = slowCall{took, start.Sub(sk.begin)}
	}
	if err == nil {
		return
	}
	sk.mu.Lock()
	defer sk.mu.Unlock()
	// A call that may have run when its connection to a server broke is
	// allowed to fail when it was in flight on the server while the
	// server was being killed, or was sent to it at most soakStale after
	// its process was gone, before the client had read that the
	// connection was closed. Nothing else may fail.
	se := (*client.ServerError)(nil)
	if errors.As(err, &se) && errors.Is(se.Err, client.ErrConnLost) && !errors.Is(se.Err, client.ErrNotSent) {
		for _, k := range sk.killed {
			switch {
			case k.addr != se.Addr || end.Before(k.from) || start.After(k.to.Add(soakStale)):
				continue
			case !start.After(k.to):
				sk.expected["in flight on a killed server"]++
			default:
				sk.expected["sent to a server just killed"]++
			}
			return
		}
	}
	sk.unexpectedLocked(err)
	if len(sk.details) < 20 {
		sk.details = append(sk.details, fmt.Sprintf("  from %v to %v: %v",
			start.Sub(sk.begin).Round(time.Millisecond), end.Sub(sk.begin).Round(time.Millisecond), err))
	}
}

// unexpected counts a failure the soak does not allow.
func (sk *soak) unexpected(err error) {
	sk.mu.Lock()
	defer sk.mu.Unlock()
	sk.unexpectedLocked(err)
}

func (sk *soak) unexpectedLocked(err error) {
	sk.failures[cause(err)]++
	if sk.first == nil {
		sk.first = err
	}
}

// merge adds a goroutine's tally to the soak's.
func (sk *soak) merge(tl *tally) {
	sk.mu.Lock()
	defer sk.mu.Unlock()
	for i := range tl.lat {
		for len(sk.hists) <= i {
			sk.hists = append(sk.hists, hist{})
		}
		sk.hists[i].merge(&tl.lat[i])
	}
	for what, sc := range tl.slowest {
		if sc.took > sk.slowest[what].took {
			sk.slowest[what] = sc
		}
	}
}

// cause names the kind of a call's failure.
func cause(err error) string {
	for _, c := range []struct {
		err  error
		name string
	}{
		{client.ErrNotFound, "not-found"},
		{client.ErrException, "exception"},
		{client.ErrThreadPoolFull, "thread-pool-full"},
		{client.ErrCanceled, "canceled"},
		{context.DeadlineExceeded, "deadline exceeded"},
		{client.ErrNotSent, "not sent"},
		{client.ErrConnLost, "connection lost"},
	} {
		if errors.Is(err, c.err) {
			return c.name
		}
	}
	return "other"
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// report is the soak's figures, for the log.
func (sk *soak) report(fig *soakFigures) string {
	sk.mu.Lock()
	defer sk.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "soak of %v: 3 servers, %d kills and restarts (%d of soak.state's leader, %d on another port), %d ZooKeeper outages, %d files rewritten, %d clients opened and closed\n",
		fig.elapsed.Round(time.Second), sk.kills, sk.leaderKills, sk.moved, sk.outages, sk.reloaded.Load(), sk.churned.Load())
	fmt.Fprintf(&b, "calls: %d made; failed as allowed: %v; failed otherwise: %d %v\n",
		sk.calls.Load(), sk.expected, sum(sk.failures), sk.failures)
	fmt.Fprintf(&b, "cluster clients that could not connect to ZooKeeper within 1s: %d during its outages, %d otherwise\n",
		sk.unopened[0], sk.unopened[1])
	b.WriteString("latency by interval (calls, p50, p99, p99.9, max):\n")
	for i := range sk.hists {
		h := &sk.hists[i]
		fmt.Fprintf(&b, "  %14s  %8d  %9v  %9v  %9v  %9v\n", fmt.Sprintf("%v-%v", time.Duration(i)*sk.step, time.Duration(i+1)*sk.step), h.n,
			h.quantile(0.5), h.quantile(0.99), h.quantile(0.999), h.quantile(1))
	}
	fmt.Fprintf(&b, "the slowest call of each kind, and when it began (faults at %v, %v and %v of each %v cycle):\n",
		sk.cycle/10, 4*sk.cycle/10, 7*sk.cycle/10, sk.cycle)
	for _, what := range slices.Sorted(maps.Keys(sk.slowest)) {
		sc := sk.slowest[what]
		fmt.Fprintf(&b, "  %10v at %10v  %s\n", loadgen.Round(sc.took), sc.at.Round(time.Millisecond), what)
	}
	fmt.Fprintf(&b, "server 0 under load: resident %.1f MiB after the warm-up, %.1f MiB at the end (bound %.1fx); goroutines %.0f, %.0f; %.0f ZooKeeper sessions\n",
		fig.rssWarm/(1<<20), fig.rssEnd/(1<<20), soakRSSGrowth, fig.goWarm, fig.goEnd, fig.sessions)
	for i := range fig.settled {
		fmt.Fprintf(&b, "server %d idle: %.0f goroutines before the load, %.0f after it (bound +%d)\n", i, fig.idle[i], fig.settled[i], soakGoroutineSlack)
	}
	if len(sk.details) > 0 {
		b.WriteString("the first failures, with the call's start and end:\n")
		for _, d := range sk.details {
			b.WriteString(d + "\n")
		}
	}
	return b.String()
}

// hist counts latencies in buckets a sixteenth of a power of two wide, so
// its quantiles are within 6.25% of the truth.
type hist struct {
	n       int64
	buckets [64 * 16]int64
}

func (h *hist) add(d time.Duration) {
	h.n++
	h.buckets[bucket(d)]++
}

func (h *hist) merge(o *hist) {
	h.n += o.n
	for i, c := range o.buckets {
		h.buckets[i] += c
	}
}

// quantile returns the upper edge of the bucket of quantile q.
func (h *hist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	want := max(int64(q*float64(h.n)+0.5), 1)
	var seen int64
	for i, c := range h.buckets {
		if seen += c; seen >= want {
			return bucketTop(i).Round(time.Microsecond)
		}
	}
	return bucketTop(len(h.buckets) - 1)
}

// bucket is the bucket of d: nanoseconds below 16 by themselves, then 16
// buckets per power of two.
func bucket(d time.Duration) int {
	ns := uint64(max(d, 0))
	e := bits.Len64(ns) - 1
	if e < 4 {
		return int(ns)
	}
	return e*16 + int(ns>>(e-4)&15)
}

// bucketTop is the largest duration of bucket i.
func bucketTop(i int) time.Duration {
	if i < 16 {
		return time.Duration(i)
	}
	e, m := i/16, uint64(i%16)
	return time.Duration((16+m+1)<<(e-4) - 1)
}
