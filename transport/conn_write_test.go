package transport

import (
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/internal/testutil"
)

// startCounting starts a server of h whose listener counts the writes to
// its connections.
func startCounting(t *testing.T, h Handler) (*Server, *countingListener) {
	t.Helper()
	srv, err := NewServer(h, ServerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &countingListener{Listener: inner}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return srv, ln
}

// countingListener counts the writes to the connections it accepts.
type countingListener struct {
	net.Listener
	writes atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{nc, &l.writes}, nil
}

type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

// batch encodes requests of fn, tids from to to, in one buffer.
func batch(t *testing.T, fn string, from, to int32) []byte {
	t.Helper()
	var b []byte
	for tid := from; tid <= to; tid++ {
		var err error
		if b, err = AppendPacket(b, request(V6, tid, ContentJSON, fn, "[1,2]")); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// TestHeldAnswersCoalesce checks that the answers of requests that came
// together leave together: 64 requests in one write, each busy for a
// while, are answered in a write or two, not one each, the writer woken
// for each answer as the reader goes on to the next. That holds for the
// calls run inline: a batch where some were handed to workers (their
// function slow twice in a row on a loaded machine) is tried again. So do
// the reader's own answers: 64 pings, 64 pongs.
func TestHeldAnswersCoalesce(t *testing.T) {
	testutil.CheckGoroutines(t)
	srv, ln := startCounting(t, &testHandler{})
	r := dialRaw(t, ln.Addr().String())
	r.callOK(1000) // the connection is set up, its first answer written
	c := srv.snapshotConns()[0]
	const n = 64
	// On a busy machine (other tests' processes), the reader may be
	// descheduled in a batch, which makes a call slow and hands the next
	// to workers: try batches until one runs inline, for a while.
	inline := false
	for deadline := time.Now().Add(10 * time.Second); !inline && time.Now().Before(deadline); {
		writes, handed := ln.writes.Load(), c.handed.Load()
		r.write(batch(t, "t/spin", 1, n))
		for range n {
			if p := r.recv(); p.Code != CodeSuccess {
				t.Fatalf("got %+v", p)
			}
		}
		if inline = c.handed.Load() == handed; !inline {
			continue
		}
		// The requests come in one read, or a few: each read's answers
		// leave in one write.
		w := ln.writes.Load() - writes
		t.Logf("%d answers in %d writes", n, w)
		if w > 3 {
			t.Fatalf("%d answers in %d writes, want 3 or fewer", n, w)
		}
	}
	if !inline {
		t.Fatal("every batch had calls handed to workers")
	}
	// The reader's own answers too: 64 pings, 64 pongs in a write or two.
	var pings []byte
	for tid := range int32(n) {
		pings, _ = AppendPacket(pings, &Packet{Version: V6, TID: tid, Type: TypePing})
	}
	writes := ln.writes.Load()
	r.write(pings)
	for range n {
		if p := r.recv(); p.Type != TypePong {
			t.Fatalf("got %+v", p)
		}
	}
	if w := ln.writes.Load() - writes; w > 3 {
		t.Fatalf("%d pongs in %d writes, want 3 or fewer", n, w)
	}
}

// TestHeldAnswersBeforeIncompleteFrame checks that answers held while
// more bytes were buffered are written when those bytes are only the
// start of a frame: the reader writes what it holds before it waits for
// the rest.
func TestHeldAnswersBeforeIncompleteFrame(t *testing.T) {
	testutil.CheckGoroutines(t)
	_, addr := startServer(t, &testHandler{}, ServerConfig{})
	r := dialRaw(t, addr)
	b := batch(t, "t/add", 1, 4)
	last := len(batch(t, "t/add", 4, 4))
	r.write(b[:len(b)-last/2]) // three requests and half the fourth
	for tid := int32(1); tid <= 3; tid++ {
		if p := r.recv(); p.TID != tid || p.Code != CodeSuccess {
			t.Fatalf("got %+v, want the answer of tid %d", p, tid)
		}
	}
	r.write(b[len(b)-last/2:])
	if p := r.recv(); p.TID != 4 || p.Code != CodeSuccess {
		t.Fatalf("got %+v, want the answer of tid 4", p)
	}
}

// TestHeldAnswersBeforeSlowCall checks that the answer of a call held
// while the reader runs the next one inline is written when that one
// turns out slow: its reading is handed over, and the reader taking over
// writes what was held.
func TestHeldAnswersBeforeSlowCall(t *testing.T) {
	testutil.CheckGoroutines(t)
	h := &testHandler{release: make(chan struct{})}
	_, addr := startServer(t, h, ServerConfig{})
	r := dialRaw(t, addr)
	b, err := AppendPacket(nil, request(V6, 1, ContentJSON, "t/echo", `["first"]`))
	if err != nil {
		t.Fatal(err)
	}
	if b, err = AppendPacket(b, request(V6, 2, ContentJSON, "t/wait", "[]")); err != nil {
		t.Fatal(err)
	}
	r.write(b)
	if p := r.recv(); p.TID != 1 || string(p.Body) != `"first"` {
		t.Fatalf("got %+v, want the answer of tid 1 while tid 2 waits", p)
	}
	r.callOK(3) // and the reading goes on
	close(h.release)
	if p := r.recv(); p.TID != 2 || string(p.Body) != `"released"` {
		t.Fatalf("got %+v", p)
	}
}
