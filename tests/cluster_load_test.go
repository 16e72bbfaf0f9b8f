package tests

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/cluster"
	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/internal/zktest"
)

// loadCallers calls who/am_i through c from n goroutines without pause,
// counting answers by server and errors, until stopped.
type loadCallers struct {
	mu      sync.Mutex
	answers map[int]int       // by server
	first   map[int]time.Time // when each server first answered
	errs    []error
	stop    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

func startCallers(c client.Caller, n int) *loadCallers {
	lc := &loadCallers{answers: map[int]int{}, first: map[int]time.Time{}, stop: make(chan struct{})}
	for range n {
		lc.wg.Go(func() {
			for {
				select {
				case <-lc.stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				who, err := client.CallAs[int](ctx, c, "who/am_i")
				cancel()
				lc.mu.Lock()
				if err != nil {
					lc.errs = append(lc.errs, err)
				} else {
					if lc.answers[who]++; lc.answers[who] == 1 {
						lc.first[who] = time.Now()
					}
				}
				lc.mu.Unlock()
			}
		})
	}
	return lc
}

// halt stops the callers and waits for them. It may be called more than
// once.
func (lc *loadCallers) halt() {
	lc.once.Do(func() { close(lc.stop) })
	lc.wg.Wait()
}

// failed returns the errors so far, and forgets them.
func (lc *loadCallers) failed() []error {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	errs := lc.errs
	lc.errs = nil
	return errs
}

func (lc *loadCallers) count(who int) int {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return lc.answers[who]
}

// firstAnswer returns when server who first answered.
func (lc *loadCallers) firstAnswer(who int) time.Time {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return lc.first[who]
}

// lastPicks is a Random picker that records when it last picked each
// server.
type lastPicks struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (p *lastPicks) Pick(servers []cluster.Server) (cluster.Server, error) {
	s, err := cluster.Random{}.Pick(servers)
	p.mu.Lock()
	p.last[s.Addr] = time.Now()
	p.mu.Unlock()
	return s, err
}

func (p *lastPicks) at(addr string) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last[addr]
}

// TestClusterUnderLoad runs three `slacker-lua serve --zk` processes and
// 64 callers of a cluster client without pause, and checks that a server
// joining gets calls, that one leaving gracefully fails no call, and that
// one killed with SIGKILL fails only the calls already written to it. It
// reports how long each took to show in the calls.
func TestClusterUnderLoad(t *testing.T) {
	testutil.CheckGoroutines(t)
	zks := zktest.Start(t)
	const session = 2 * time.Second
	serve := func(i int) *cliServer {
		dir := testutil.WriteFiles(t, whoFile(i))
		return startCLI(t, "--zk", zks.Addr, "--cluster", "test", "--zk-session-timeout", session.String(), "--leave-delay", "500ms", dir)
	}
	servers := []*cliServer{serve(0), serve(1)}
	picks := &lastPicks{last: map[string]time.Time{}}
	c := newCluster(t, zks.Addr, picks)
	servesWho := func(n int) func() bool {
		return func() bool {
			s, err := c.Servers(context.Background(), "who")
			return err == nil && len(s) == n
		}
	}
	testutil.WaitFor(t, 10*time.Second, servesWho(2), "who's two servers")
	lc := startCallers(c, 64)
	defer lc.halt()
	testutil.WaitFor(t, 10*time.Second, func() bool { return lc.count(0) > 100 && lc.count(1) > 100 }, "calls to both servers")

	// A server joins: calls reach it, soon after it registers.
	servers = append(servers, serve(2))
	testutil.WaitFor(t, 10*time.Second, func() bool { return lc.count(2) > 0 }, "a call to the new server")
	look, closeLook := zkLook(t, zks.Addr)
	_, st, err := look.Get(testLayout.NamespaceServer("who", servers[2].addr))
	closeLook()
	if err != nil {
		t.Fatal(err)
	}
	toNew := lc.firstAnswer(2).Sub(time.UnixMilli(st.Ctime))

	// A server leaves gracefully: no call fails.
	servers[0].terminate(t)
	before := lc.count(1) + lc.count(2)
	testutil.WaitFor(t, 10*time.Second, func() bool { return lc.count(1)+lc.count(2) > before+1000 }, "calls after server 0 left")
	if errs := lc.failed(); len(errs) > 0 {
		t.Fatalf("%d calls failed while server 0 left gracefully; the first: %v", len(errs), errs[0])
	}

	// A server is killed: only calls already written to it fail.
	killed := time.Now()
	servers[1].cmd.Process.Signal(syscall.SIGKILL)
	testutil.WaitFor(t, 10*time.Second, servesWho(1), "the killed server's registration to expire")
	// Until then calls were routed to it, and sent to another server at
	// once, as they could not be sent to it.
	dropped := picks.at(servers[1].addr).Sub(killed)
	before = lc.count(2)
	testutil.WaitFor(t, 10*time.Second, func() bool { return lc.count(2) > before+1000 }, "calls after the kill")
	lc.halt()
	errs := lc.failed()
	var lost, other []string
	for _, err := range errs {
		if errors.Is(err, client.ErrConnLost) {
			lost = append(lost, err.Error())
		} else {
			other = append(other, err.Error())
		}
	}
	if len(other) > 0 {
		t.Errorf("%d calls failed otherwise than by the connection lost with them: %s", len(other), strings.Join(slices.Compact(other)[:min(3, len(slices.Compact(other)))], "; "))
	}
	if len(lost) > 64 {
		t.Errorf("%d calls lost with the killed server, more than the 64 that can be in flight", len(lost))
	}
	t.Logf("calls by server %v; a new server's first call answered %v after it registered; after SIGKILL: %d calls lost (in flight); the last call routed to the killed server (and sent elsewhere) %v after the kill (session timeout %v)",
		map[int]int{0: lc.count(0), 1: lc.count(1), 2: lc.count(2)}, toNew.Round(time.Millisecond), len(lost), dropped.Round(time.Millisecond), session)
}
