package transport

import (
	"fmt"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/internal/testutil"
)

// TestIdleConnHoldsNoBuffer checks that connections waiting for requests
// hold no read buffer: three connections, each after a call, an answer
// and a request in two pieces, hold none once they wait.
func TestIdleConnHoldsNoBuffer(t *testing.T) {
	testutil.CheckGoroutines(t)
	srv, addr := startServer(t, &testHandler{}, ServerConfig{})
	for i := range 3 {
		r := dialRaw(t, addr)
		r.callOK(1)
		b := batch(t, "t/add", 2, 2)
		r.write(b[:5])
		testutil.WaitFor(t, 5*time.Second, func() bool { return srv.readBufs.Load() == 0 },
			fmt.Sprintf("connection %d holds a buffer in the middle of a frame", i))
		r.write(b[5:])
		if p := r.recv(); p.TID != 2 || p.Code != CodeSuccess {
			t.Fatalf("got %+v", p)
		}
	}
	testutil.WaitFor(t, 5*time.Second, func() bool { return srv.readBufs.Load() == 0 }, "idle connections hold read buffers")
}

// TestWatchEndsWhenIdle checks that a connection's deadline watch and its
// writer end once no call has come for workerIdle, and that the next
// call's deadline is kept and its answer written all the same.
func TestWatchEndsWhenIdle(t *testing.T) {
	testutil.CheckGoroutines(t)
	h := &testHandler{started: make(chan string, 8), release: make(chan struct{})}
	srv, addr := startServer(t, h, ServerConfig{})
	r := dialRaw(t, addr)
	// Two calls at once: the first answer leaves through the writer.
	r.write(batch(t, "t/wait", 1, 2))
	<-h.started
	<-h.started
	close(h.release)
	r.recv()
	r.recv()
	c := srv.snapshotConns()[0]
	watching := func() bool {
		c.cmu.Lock()
		defer c.cmu.Unlock()
		return c.watching
	}
	writing := func() bool {
		c.wmu.Lock()
		defer c.wmu.Unlock()
		return c.writerOn
	}
	if !writing() {
		t.Fatal("no writer after a batch")
	}
	testutil.WaitFor(t, 3*workerIdle, func() bool { return !watching() && !writing() }, "the watch or the writer did not end")
	soon := fmt.Appendf(nil, "%d", time.Now().Add(50*time.Millisecond).UnixMilli())
	r.send(request(V6, 2, ContentJSON, "t/block", "[]", Extension{ID: DeadlineExtension, Value: soon}))
	if p := r.recv(); p.Type != TypeError || p.TID != 2 || p.Code != CodeCanceled {
		t.Fatalf("a call past its deadline after the watch ended: %+v", p)
	}
	if !watching() {
		t.Fatal("no watch for the calls after")
	}
	r.write(batch(t, "t/add", 3, 4))
	for range 2 {
		if p := r.recv(); p.Code != CodeSuccess {
			t.Fatalf("got %+v", p)
		}
	}
}
