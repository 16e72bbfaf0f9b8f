package cluster

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/internal/zktest"
)

// TestMemberRejoinJitter cuts 20 members off from ZooKeeper, through a
// proxy, until their sessions expire, and lets them through again: with
// a RejoinJitter of 5s, they register again in their new sessions spread
// over more than two seconds, not together (the chance that 20 waits
// drawn from 5s fall within two seconds is below 1e-6; without the
// jitter, they come back within a second, as their ZooKeeper clients
// dial again), and each within the jitter and a few seconds of the way
// back.
func TestMemberRejoinJitter(t *testing.T) {
	const n, jitter, session = 20, 5 * time.Second, 2 * time.Second
	zks := zktest.Start(t)
	proxy := zktest.NewProxy(t, zks.Addr)
	members := make([]*Member, n)
	for i := range members {
		m, err := Join(MemberConfig{
			ZooKeeper: []string{proxy.Addr}, Layout: l, Addr: fmt.Sprintf("127.0.0.1:%d", 7+i),
			SessionTimeout: session, RejoinJitter: jitter, Logger: discard,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.Close)
		if err := m.Register("ns", NamespaceData{}); err != nil {
			t.Fatal(err)
		}
		settle(t, m)
		members[i] = m
	}
	raw := look(t, zks)
	proxy.Block()
	testutil.WaitFor(t, 3*session+5*time.Second, func() bool { return len(children(raw, l.Namespace("ns"))) == 0 }, "the sessions to expire")
	proxy.Unblock()
	back := time.Now()
	at := make([]time.Duration, n)
	var wg sync.WaitGroup
	for i, m := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), jitter+10*time.Second)
			defer cancel()
			for m.Sessions() < 2 && ctx.Err() == nil {
				time.Sleep(5 * time.Millisecond)
			}
			if err := m.Sync(ctx); err != nil {
				t.Errorf("member %d: %v", i, err)
			}
			at[i] = time.Since(back)
		}()
	}
	wg.Wait()
	slices.Sort(at)
	t.Logf("registered again %v to %v after the way back", at[0].Round(time.Millisecond), at[n-1].Round(time.Millisecond))
	if spread := at[n-1] - at[0]; spread < 2*time.Second {
		t.Errorf("20 members registered again within %v of each other; want them spread over more than two seconds", spread)
	}
	testutil.WaitFor(t, 5*time.Second, func() bool { return len(children(raw, l.Namespace("ns"))) == n }, "every registration")
}
