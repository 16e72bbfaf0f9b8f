package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/internal/zkrun"
	"github.com/slacker-lua/slacker-lua/internal/zktest"
)

// TestClientUnreachable checks that a client of a ZooKeeper nobody
// listens at waits for its context, then says why: the dial's error, with
// the address, not only the deadline.
func TestClientUnreachable(t *testing.T) {
	testutil.CheckGoroutines(t)
	addr, err := zkrun.FreeAddr() // nobody listens there
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = NewClient(ctx, ClientConfig{ZooKeeper: []string{addr}, Layout: Layout{Cluster: "test"}})
	if !errors.Is(err, syscall.ECONNREFUSED) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("NewClient = %v, want connection refused and the deadline", err)
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("NewClient gave up after %v, before its deadline", took)
	}
	want := "cluster: cannot reach ZooKeeper " + addr + " (tried for 1.5s: context deadline exceeded): dial tcp " + addr + ": connect: connection refused"
	if err.Error() != want {
		t.Errorf("NewClient's error:\n got %s\nwant %s", err, want)
	}
}

// logLines returns the records logged in b (JSON, one a line) whose
// message starts with msg.
func logLines(t *testing.T, b *testutil.Buffer, msg string) []map[string]any {
	t.Helper()
	var got []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m, _ := rec["msg"].(string); strings.HasPrefix(m, msg) {
			got = append(got, rec)
		}
	}
	return got
}

// TestMemberLogsOutage checks the log of a member through ZooKeeper
// stopped for longer than its session timeout and started again: a warning
// when the connection is lost, at once, and an info line when it is back,
// in the same session, and nothing else above debug level: no take-over of
// nodes, no second line.
func TestMemberLogsOutage(t *testing.T) {
	testutil.CheckGoroutines(t)
	zks := zktest.Start(t)
	log, buf := testutil.NewLogger()
	m, err := Join(MemberConfig{ZooKeeper: []string{zks.Addr}, Layout: l, Addr: "127.0.0.1:7", SessionTimeout: 2 * time.Second, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	if err := m.Register("counter", NamespaceData{Stateful: true}); err != nil {
		t.Fatal(err)
	}
	settle(t, m)
	const lost, back = "lost the connection to ZooKeeper", "connection to ZooKeeper back"

	zks.Stop()
	stopped := time.Now()
	testutil.WaitFor(t, wait, func() bool { return len(logLines(t, buf, lost)) > 0 }, "the loss to be logged")
	if took := time.Since(stopped); took > time.Second {
		t.Errorf("the loss was logged %v after ZooKeeper stopped", took)
	}
	testutil.WaitFor(t, wait, func() bool { return time.Since(stopped) > 3*time.Second }, "ZooKeeper to be down past the session timeout")
	zks.Restart(false)
	testutil.WaitFor(t, wait, func() bool { return len(logLines(t, buf, back)) > 0 }, "the return to be logged")
	settle(t, m)

	if got := logLines(t, buf, lost); len(got) != 1 || got[0]["level"] != "WARN" {
		t.Errorf("the loss logged %v, want once at WARN", got)
	}
	if got := logLines(t, buf, back); len(got) != 1 || got[0]["level"] != "INFO" || got[0]["session"] != "same" {
		t.Errorf("the return logged %v, want once at INFO, in the same session", got)
	}
	if n := m.Sessions(); n != 1 {
		t.Errorf("Sessions = %d, want 1: ZooKeeper keeps sessions through its restart", n)
	}
	for _, rec := range logLines(t, buf, "") {
		msg, _ := rec["msg"].(string)
		if rec["level"] != "DEBUG" && !strings.HasPrefix(msg, lost) && !strings.HasPrefix(msg, back) && msg != "registered in zookeeper" && msg != "leading the namespace" {
			t.Errorf("logged at %s: %v", rec["level"], rec)
		}
	}
}

// TestMemberTakeOverLog checks that a member that takes over the nodes of
// another session says so at warn level, once for that session.
func TestMemberTakeOverLog(t *testing.T) {
	testutil.CheckGoroutines(t)
	zks := zktest.Start(t)

	// Another session's nodes at the member's address.
	other, err := Join(MemberConfig{ZooKeeper: []string{zks.Addr}, Layout: l, Addr: "127.0.0.1:7"})
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"a", "b"} {
		if err := other.Register(ns, NamespaceData{}); err != nil {
			t.Fatal(err)
		}
	}
	settle(t, other)
	log, buf := testutil.NewLogger()
	m, err := Join(MemberConfig{ZooKeeper: []string{zks.Addr}, Layout: l, Addr: "127.0.0.1:7", SessionTimeout: 2 * time.Second, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	for _, ns := range []string{"a", "b"} {
		if err := m.Register(ns, NamespaceData{}); err != nil {
			t.Fatal(err)
		}
	}
	settle(t, m)
	other.Close()
	warned := logLines(t, buf, "taking over the nodes of another session")
	if len(warned) != 1 || warned[0]["level"] != "WARN" {
		t.Errorf("the take-over of another session's three nodes logged %v, want once at WARN", warned)
	}
}
