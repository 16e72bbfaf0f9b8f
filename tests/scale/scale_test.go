package scale

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/cluster"
	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/internal/zkrun"
	"github.com/slacker-lua/slacker-lua/internal/zktest"
)

var (
	flagN       = flag.String("scale.n", "10", "the numbers of servers to measure, comma separated")
	flagK       = flag.String("scale.k", "10", "the numbers of namespaces each server serves, comma separated")
	flagClients = flag.Int("scale.clients", 2, "the cluster clients")
	flagSession = flag.Duration("scale.session", 4*time.Second, "the ZooKeeper session timeout of servers and clients (1s to 10s)")
	flagJitter  = flag.Duration("scale.jitter", cluster.DefaultRejoinJitter, "the servers' RejoinJitter")
	flagAdded   = flag.Int("scale.added", 5, "the servers added, and removed, one by one")
	flagOut     = flag.String("scale.out", "", "a file to write the report to, in Markdown")
)

// Limits every run is held to, whatever its size.
const (
	registerWithin = 30 * time.Second // N servers' registration
	backWithin     = 60 * time.Second // every registration after a restart
	routedWithin   = time.Second      // p99 of a new server's first call, for every client
)

// TestScale runs the scale harness (see the package documentation) for
// every N and K of the flags, and checks each run against the limits.
func TestScale(t *testing.T) {
	ns, ks := ints(t, *flagN), ints(t, *flagK)
	ens := zktest.StartEnsemble(t, 3)
	var rows []row
	for _, n := range ns {
		for _, k := range ks {
			r := measure(t, ens, n, k, *flagClients)
			t.Logf("N=%d K=%d: %+v", n, k, r)
			rows = append(rows, r)
		}
	}
	report := format(rows)
	t.Log("\n" + report)
	if *flagOut != "" {
		if err := os.WriteFile(*flagOut, []byte(report), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// row is the figures of one run.
type row struct {
	N, K, M int

	Register    time.Duration // from the fleet's start to every Sync
	SyncP50     time.Duration
	Znodes      int     // made by the N servers
	ZnodesPer   float64 // per server
	WatchesPer  float64 // per client
	ClientHeap  int64   // bytes per client
	ClientGos   float64 // goroutines per client
	LookupP50   time.Duration
	LookupP99   time.Duration
	AddedP50    time.Duration // a new server's first call, every client
	AddedP99    time.Duration
	RemovedP50  time.Duration // a removed server no longer listed, every client
	RemovedP99  time.Duration
	ZKHeap      int64 // bytes, the largest member's, after registration
	ZKLatency   string
	Mass        restart
	Kept, Wiped restart
}

// restart is the figures of one restart.
type restart struct {
	Back       time.Duration // until every registration is back
	Sessions   int64         // new sessions the servers made
	Calls      int64         // made meanwhile
	Failed     int64         // of them
	PeakRate   int64         // ZooKeeper's packets received, all members, in the busiest second
	PeakZnodes int64         // znodes made in the busiest second
}

// measure runs the harness once: n servers with k namespaces each, and m
// clients, in a cluster of its own.
func measure(t *testing.T, ens *zktest.Ensemble, n, k, m int) row {
	r := row{N: n, K: k, M: m}
	zkAddrs := strings.Split(ens.Addr(), ",")
	layout := cluster.Layout{Cluster: fmt.Sprintf("scale-n%d-k%d", n, k)}
	cfg := fleetConfig{ZooKeeper: zkAddrs, Cluster: layout.Cluster, N: n, K: k, SessionTimeout: *flagSession, RejoinJitter: *flagJitter}
	base := mntrAll(t, ens)

	// Registration.
	f := startFleet(t, cfg)
	r.Register = time.Since(f.began)
	r.SyncP50 = pct(f.ready.Synced, 50)
	if r.Register > registerWithin {
		t.Errorf("N=%d K=%d: registered in %v, more than %v", n, k, r.Register, registerWithin)
	}
	reg := mntrAll(t, ens)
	r.Znodes = reg.znodes - base.znodes
	r.ZnodesPer = float64(r.Znodes) / float64(n)
	r.ZKHeap = zkHeap(ens)
	defer stopFleet(t, &f)

	// Clients, and their first calls.
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	gos := runtime.NumGoroutine()
	clients := make([]*cluster.Client, m)
	var lookups []time.Duration
	for i := range clients {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		c, err := cluster.NewClient(ctx, cluster.ClientConfig{ZooKeeper: zkAddrs, Layout: layout, SessionTimeout: *flagSession, Logger: slog.New(slog.DiscardHandler)})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients[i] = c
		for j := range k {
			begin := time.Now()
			if _, err := c.Call(context.Background(), nsName(j)+"/f"); err != nil {
				t.Fatalf("client %d's first call of %s: %v", i, nsName(j), err)
			}
			lookups = append(lookups, time.Since(begin))
		}
	}
	r.LookupP50, r.LookupP99 = pct(lookups, 50), pct(lookups, 99)
	testutil.WaitFor(t, time.Minute, func() bool { return watchers(t, ens, layout.Servers()) == m }, "every client's watch of the servers' node")
	watches := mntrAll(t, ens).watches - reg.watches
	r.WatchesPer = float64(watches) / float64(m)
	// mntr counts a node's data watch and its children's apiece: a
	// client's are the children and data of each namespace's node, the
	// data of its _leader, and the servers' node's data.
	if most := 3*k + 1; r.WatchesPer > float64(most) {
		t.Errorf("N=%d K=%d: %.1f watches a client, more than %d", n, k, r.WatchesPer, most)
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	r.ClientHeap = (int64(after.HeapInuse) - int64(before.HeapInuse)) / int64(m)
	r.ClientGos = float64(runtime.NumGoroutine()-gos) / float64(m)

	// Servers added and removed, one by one.
	var added, removed []time.Duration
	for range *flagAdded {
		a, rm := addRemove(t, cfg, clients)
		added, removed = append(added, a...), append(removed, rm...)
	}
	r.AddedP50, r.AddedP99 = pct(added, 50), pct(added, 99)
	r.RemovedP50, r.RemovedP99 = pct(removed, 50), pct(removed, 99)
	if r.AddedP99 > routedWithin {
		t.Errorf("N=%d K=%d: a new server's first call routed in %v (p99), more than %v", n, k, r.AddedP99, routedWithin)
	}

	calls := startCallers(clients, k)
	defer calls.stop()

	// A mass restart: every server killed, and started again at once.
	r.Mass = during(t, ens, calls, func() int64 {
		f.kill()
		cfg.Addrs = f.ready.Addrs
		f = startFleet(t, cfg)
		calls.waitOK(t, f.began)
		var st fleetStatus
		f.ask("status", &st)
		return st.Sessions
	})
	// An ensemble restart past the session timeout, with its data.
	r.Kept = during(t, ens, calls, func() int64 {
		var st fleetStatus
		f.ask("status", &st)
		ens.Stop()
		time.Sleep(*flagSession + time.Second) // the outage, past the session timeout
		ens.Start(false)
		var now fleetStatus
		testutil.WaitFor(t, backWithin, func() bool { f.ask("status", &now); return now.Connected == n }, "every server's session back")
		var d time.Duration
		f.ask("sync", &d)
		return now.Sessions - st.Sessions
	})
	if r.Kept.Sessions > 0 {
		t.Errorf("N=%d K=%d: %d servers lost their sessions to an ensemble restart that kept its data", n, k, r.Kept.Sessions)
	}
	if r.Kept.Failed > 0 {
		t.Errorf("N=%d K=%d: %d calls of %d failed while the ensemble restarted", n, k, r.Kept.Failed, r.Kept.Calls)
	}
	// An ensemble restart with its data wiped: every session is new.
	r.Wiped = during(t, ens, calls, func() int64 {
		var st fleetStatus
		f.ask("status", &st)
		ens.Stop()
		ens.Start(true)
		var now fleetStatus
		testutil.WaitFor(t, backWithin, func() bool { f.ask("status", &now); return now.Sessions-st.Sessions >= int64(n) && now.Connected == n }, "a new session for every server")
		var d time.Duration
		f.ask("sync", &d)
		calls.waitOK(t, time.Now())
		return now.Sessions - st.Sessions
	})
	r.ZKLatency = latency(t, ens)
	// A wipe costs three session timeouts more: without a session,
	// refused by the new ensemble, and that ensemble serving (see
	// cluster's session).
	for name, rs := range map[string]restart{"mass restart": r.Mass, "ensemble restart": r.Kept, "ensemble wipe": r.Wiped} {
		limit := backWithin
		if name == "ensemble wipe" {
			limit += 3 * *flagSession
		}
		if rs.Back > limit {
			t.Errorf("N=%d K=%d: %s: back in %v, more than %v", n, k, name, rs.Back, limit)
		}
	}
	return r
}

// during runs do, a restart, while it samples ZooKeeper's request rate
// and counts the calls made and failed, and returns the figures; do
// returns once every registration is back, with the sessions the servers
// made meanwhile.
func during(t *testing.T, ens *zktest.Ensemble, calls *callers, do func() int64) restart {
	ctx, cancel := context.WithCancel(context.Background())
	rates := make(chan peaks, 1)
	go func() { rates <- peakRate(ctx, ens) }()
	made, failed := calls.made.Load(), calls.failed.Load()
	begin := time.Now()
	sessions := do()
	back := time.Since(begin)
	cancel()
	if errs := calls.failures(); len(errs) > 0 {
		t.Logf("calls failed: %v", errs)
	}
	p := <-rates
	return restart{Back: back, Sessions: sessions, Calls: calls.made.Load() - made, Failed: calls.failed.Load() - failed, PeakRate: p.packets, PeakZnodes: p.znodes}
}

// addRemove adds a server, in this process, with the fleet's namespaces,
// and returns, for every client, the time from its member's Sync to the
// client's first call routed to it; then removes it (Close), and returns
// the time from Close to the client's no longer listing it.
func addRemove(t *testing.T, cfg fleetConfig, clients []*cluster.Client) (added, removed []time.Duration) {
	srv, addrs, err := standIns(nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	members, _, err := joinAll(ctx, cfg, addrs, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	synced := time.Now()
	added = poll(t, clients, synced, func(c *cluster.Client) bool {
		_, err := c.With(cluster.Address(addrs[0])).Call(context.Background(), nsName(0)+"/f")
		return err == nil
	})
	members[0].Close()
	closed := time.Now()
	removed = poll(t, clients, closed, func(c *cluster.Client) bool {
		_, err := c.With(cluster.Address(addrs[0])).Call(context.Background(), nsName(0)+"/f")
		return errors.Is(err, client.ErrNotFound)
	})
	return added, removed
}

// poll returns, for each client, the time from since until ok holds for
// it, polled every millisecond.
func poll(t *testing.T, clients []*cluster.Client, since time.Time, ok func(*cluster.Client) bool) []time.Duration {
	out := make([]time.Duration, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !ok(c) {
				if time.Since(since) > time.Minute {
					t.Errorf("client %d: not in a minute", i)
					return
				}
				time.Sleep(time.Millisecond)
			}
			out[i] = time.Since(since)
		}()
	}
	wg.Wait()
	return out
}

// callers call the namespaces through every client, each at most every
// 2ms, counting the calls made and failed, until stop.
type callers struct {
	made, failed atomic.Int64
	lastFail     atomic.Int64 // UnixNano of the last failure
	mu           sync.Mutex
	errs         map[string]int // the failures, by message (the first few messages)
	cancel       context.CancelFunc
	wg           sync.WaitGroup
}

func startCallers(clients []*cluster.Client, k int) *callers {
	ctx, cancel := context.WithCancel(context.Background())
	cs := &callers{cancel: cancel, errs: map[string]int{}}
	for _, c := range clients {
		cs.wg.Add(1)
		go func() {
			defer cs.wg.Done()
			tick := time.NewTicker(2 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				call, cancel := context.WithTimeout(ctx, time.Second)
				_, err := c.Call(call, nsName(rand.IntN(k))+"/f")
				cancel()
				if ctx.Err() != nil {
					return
				}
				cs.made.Add(1)
				if err != nil {
					cs.failed.Add(1)
					cs.lastFail.Store(time.Now().UnixNano())
					msg := addrRE.ReplaceAllString(nsRE.ReplaceAllString(err.Error(), "NS"), "ADDR")
					cs.mu.Lock()
					if _, ok := cs.errs[msg]; ok || len(cs.errs) < 10 {
						cs.errs[msg]++
					}
					cs.mu.Unlock()
				}
			}
		}()
	}
	return cs
}

// addrRE and nsRE match what differs between failures of one kind.
var (
	addrRE = regexp.MustCompile(`127\.0\.0\.1:\d+`)
	nsRE   = regexp.MustCompile(`scale\.ns\d+`)
)

func (cs *callers) stop() { cs.cancel(); cs.wg.Wait() }

// failures returns the failures counted since the last call, by message.
func (cs *callers) failures() map[string]int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	errs := cs.errs
	cs.errs = map[string]int{}
	return errs
}

// waitOK waits until calls made after since have succeeded for a while:
// 100 calls in a row.
func (cs *callers) waitOK(t *testing.T, since time.Time) {
	t.Helper()
	var mark int64 = -1
	testutil.WaitFor(t, backWithin, func() bool {
		if time.Unix(0, cs.lastFail.Load()).After(since) {
			since = time.Unix(0, cs.lastFail.Load())
			mark = -1
		}
		if mark < 0 {
			mark = cs.made.Load()
		}
		return cs.made.Load()-mark >= 100 && !time.Unix(0, cs.lastFail.Load()).After(since)
	}, "calls to succeed again")
}

// stopFleet ends the fleet's process, closing its members' sessions.
func stopFleet(t *testing.T, f **fleet) {
	(*f).in.Close()
	if err := (*f).cmd.Wait(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Errorf("the fleet: %v", err)
		}
	}
}

// mntr is what the ensemble's mntr says, summed over its members where
// each counts its own (watches, packets) and the leader's where all hold
// the same (znodes).
type mntr struct {
	znodes, watches int
	packets         int64
}

func mntrAll(t *testing.T, ens *zktest.Ensemble) mntr {
	t.Helper()
	var m mntr
	for _, s := range ens.Servers {
		kv, err := mntrOf(s.Addr)
		if err != nil {
			t.Fatalf("mntr of %s: %v", s.Addr, err)
		}
		m.znodes = max(m.znodes, int(kv["zk_znode_count"]))
		m.watches += int(kv["zk_watch_count"])
		m.packets += kv["zk_packets_received"]
	}
	return m
}

// mntrOf returns the numbers mntr gives, by key.
func mntrOf(addr string) (map[string]int64, error) {
	out, err := zkrun.FourLetter(addr, "mntr")
	if err != nil {
		return nil, err
	}
	kv := map[string]int64{}
	for line := range strings.Lines(out) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "\t")
		if !ok {
			continue
		}
		if n, err := strconv.ParseFloat(v, 64); err == nil {
			kv[k] = int64(n)
		}
	}
	if len(kv) == 0 {
		return nil, fmt.Errorf("no figures in %q", out)
	}
	return kv, nil
}

// peaks is what peakRate returns: the most in any second.
type peaks struct {
	packets int64 // received by the ensemble's members
	znodes  int64 // made, net of those deleted
}

// peakRate samples the packets the ensemble's members received, and its
// znodes, every 100ms until ctx ends, and returns the most received, and
// made, in any second.
func peakRate(ctx context.Context, ens *zktest.Ensemble) peaks {
	type sample struct {
		at      time.Time
		packets int64 // received since the sample before, all members
		znodes  int64 // made since the sample before
	}
	last := map[string]int64{}
	lastZnodes := int64(-1)
	var window []sample // the last second's
	var peak peaks
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		now := sample{at: time.Now()}
		znodes := int64(-1)
		for _, s := range ens.Servers {
			kv, err := mntrOf(s.Addr)
			if err != nil {
				delete(last, s.Addr) // down: counted again from its restart
				continue
			}
			p := kv["zk_packets_received"]
			if l, ok := last[s.Addr]; ok && p >= l {
				now.packets += p - l
			}
			last[s.Addr] = p
			znodes = max(znodes, kv["zk_znode_count"])
		}
		if znodes >= 0 {
			if lastZnodes >= 0 && znodes > lastZnodes {
				now.znodes = znodes - lastZnodes
			}
			lastZnodes = znodes
		}
		window = append(window, now)
		for now.at.Sub(window[0].at) >= time.Second {
			window = window[1:]
		}
		var sum peaks
		for _, w := range window {
			sum.packets += w.packets
			sum.znodes += w.znodes
		}
		peak.packets, peak.znodes = max(peak.packets, sum.packets), max(peak.znodes, sum.znodes)
		select {
		case <-ctx.Done():
			return peak
		case <-tick.C:
		}
	}
}

// watchers counts the sessions that watch the node p, over the
// ensemble's members, from wchp.
func watchers(t *testing.T, ens *zktest.Ensemble, p string) int {
	n := 0
	for _, s := range ens.Servers {
		out, err := zkrun.FourLetter(s.Addr, "wchp")
		if err != nil {
			t.Fatalf("wchp of %s: %v", s.Addr, err)
		}
		in := false
		for line := range strings.Lines(out) {
			switch l := strings.TrimSpace(line); {
			case strings.HasPrefix(l, "/"):
				in = l == p
			case in && strings.HasPrefix(l, "0x"):
				n++
			}
		}
	}
	return n
}

// zkHeap returns the heap the largest member uses, from jstat when the
// JDK is installed, or its resident memory.
func zkHeap(ens *zktest.Ensemble) int64 {
	var most int64
	for _, s := range ens.Servers {
		most = max(most, heapOf(s.Pid()))
	}
	return most
}

func heapOf(pid int) int64 {
	if out, err := exec.Command("jstat", "-gc", strconv.Itoa(pid)).Output(); err == nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) == 2 {
			keys, vals := strings.Fields(lines[0]), strings.Fields(lines[1])
			var kb float64
			for i, k := range keys {
				if i < len(vals) && slices.Contains([]string{"S0U", "S1U", "EU", "OU"}, k) {
					v, _ := strconv.ParseFloat(vals[i], 64)
					kb += v
				}
			}
			return int64(kb * 1024)
		}
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// latency returns the members' request latency, average and most, in
// milliseconds, as mntr gives it since they started.
func latency(t *testing.T, ens *zktest.Ensemble) string {
	var avg, most int64
	for _, s := range ens.Servers {
		kv, err := mntrOf(s.Addr)
		if err != nil {
			t.Fatalf("mntr of %s: %v", s.Addr, err)
		}
		avg, most = max(avg, kv["zk_avg_latency"]), max(most, kv["zk_max_latency"])
	}
	return fmt.Sprintf("%d/%d", avg, most)
}

// pct returns the p-th percentile of ds.
func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(ds))
	return s[min(len(s)-1, int(float64(len(s))*p/100))]
}

// ints parses a comma-separated list of numbers.
func ints(t *testing.T, s string) []int {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			t.Fatalf("%q: not a list of numbers", s)
		}
		out = append(out, n)
	}
	return out
}

// format writes the rows as Markdown tables.
func format(rows []row) string {
	var b strings.Builder
	ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64) }
	fmt.Fprintf(&b, "| N | K | registered in (s) | member Sync p50 (s) | znodes per server | watches per client | client heap (KiB) | client goroutines | look-up p50/p99 (ms) | added p50/p99 (ms) | removed p50/p99 (ms) | ZooKeeper heap (MiB) | ZooKeeper latency avg/max (ms) |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %d | %d | %.1f | %.1f | %.1f | %.1f | %d | %.0f | %s/%s | %s/%s | %s/%s | %d | %s |\n",
			r.N, r.K, r.Register.Seconds(), r.SyncP50.Seconds(), r.ZnodesPer, r.WatchesPer, r.ClientHeap/1024, r.ClientGos,
			ms(r.LookupP50), ms(r.LookupP99), ms(r.AddedP50), ms(r.AddedP99), ms(r.RemovedP50), ms(r.RemovedP99), r.ZKHeap>>20, r.ZKLatency)
	}
	fmt.Fprintf(&b, "\n| N | K | restart | back in (s) | new sessions | calls failed | ZooKeeper, busiest second (packets) | znodes made, busiest second |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		for _, x := range []struct {
			name string
			r    restart
		}{{"mass restart", r.Mass}, {"ensemble, data kept", r.Kept}, {"ensemble, data wiped", r.Wiped}} {
			fmt.Fprintf(&b, "| %d | %d | %s | %.1f | %d | %d of %d | %d | %d |\n", r.N, r.K, x.name, x.r.Back.Seconds(), x.r.Sessions, x.r.Failed, x.r.Calls, x.r.PeakRate, x.r.PeakZnodes)
		}
	}
	return b.String()
}
