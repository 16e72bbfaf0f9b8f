package transport

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// conn serves one peer. Five jobs share it, one file each:
//
//   - reading (conn_read.go): one reader goroutine decodes frames, bounds
//     the handshake, idle time and each frame with the read deadline, and
//     serves the packets that are not calls;
//   - scheduling (conn_schedule.go): a call runs on the reader (inline) or
//     on a worker goroutine, within MaxInFlight;
//   - the call context and deadlines (conn_deadline.go): each call's
//     callCtx, and watch, the one ticker that expires them, hands the
//     reading over from a slow inline call and ends idle workers;
//   - writing (conn_write.go): one coalescing writer goroutine;
//   - the lifecycle (this file): start, the first error, teardown.
//
// A peer that ends its sending (EOF at a frame boundary, as
// shutdown(SHUT_WR) makes) gets the answers of its calls in flight before
// the connection is closed: they run to their end or deadline.
//
// Teardown, in this order, by serve:
//
//  1. The reading ends: Shutdown stopped it at a frame boundary
//     (stopReading), the peer ended its stream (errPeerDone), or a read,
//     a frame or the handshake failed. When the reading was handed over,
//     serve waits for the last reader's error on readerEnd.
//  2. Any other end than the first two calls fail, as a failed write and
//     abort (Server.Close, or Shutdown's ctx ending) do, from any
//     goroutine, at any time: fail keeps the first error, cancels ctx, the
//     connection's one shutdown channel, and stops every call in flight.
//     It can be called again; a failed write and abort also close the
//     socket, which ends a read or a write under way.
//  3. serve waits for the calls (callWG), which answer unless the
//     connection failed, and for the readers watch started; then it
//     cancels ctx, which ends watch and the workers, and waits for them.
//  4. No goroutine queues frames any more: serve closes wquit, the writer
//     (started if none runs) writes what is left and ends (writers).
//  5. serve closes the socket and logs the first error.
//
// Every loop but the writer's selects on ctx; the writer ends on wquit,
// after ctx, so that the answers queued are written.
type conn struct {
	srv         *Server
	nc          net.Conn
	rb          *readBuffer
	dec         *Decoder
	log         *slog.Logger
	connectedAt time.Time

	// ctx is the connection's shutdown channel: cancelled by fail, with
	// the calls still running, or by serve once they have ended.
	ctx    context.Context
	cancel context.CancelFunc

	// Reader state shared with stopReading.
	rmu      sync.Mutex
	stopping bool // Shutdown asked the reader to stop at a frame boundary
	idle     bool // the reader waits between frames

	// Frame deadline state, owned by the reader goroutine.
	midFrame bool
	armed    bool

	// Handshake and idle state, owned by the reader goroutine: the read
	// deadline armed between frames, whether the handshake was done, the
	// frames decoded, those decoded at
	// the last idle check, and the checks in a row that found the
	// connection quiet.
	rcheck  time.Time
	greeted bool // the handshake was done once
	frames  uint64
	checked uint64
	quiet   int

	// authed is set once the peer gave a token Authenticate accepted;
	// authFails counts the tokens refused; closeErr, once set by handle,
	// ends the reading. Owned by the reader goroutine.
	authed    bool
	authFails int
	closeErr  error

	// Inline calls. slow is owned by the reader goroutine. inline is the
	// call the reader runs inline, if any; watch hands the reading over by
	// swapping it to nil. readerEnd has the error of the reader that ended
	// the reading, when that is not serve's.
	slow      slowFuncs
	inline    atomic.Pointer[call]
	readers   sync.WaitGroup // the readers started by watch
	readerEnd chan error

	// Calls in flight, by tid.
	cmu      sync.Mutex
	calls    map[int32]*callCtx
	slots    chan struct{} // MaxInFlight tokens
	running  atomic.Int32
	callWG   sync.WaitGroup
	work     chan job       // to an idle worker
	workers  sync.WaitGroup // the workers and watch, which end with ctx
	watching bool           // watch runs; under cmu

	// Counters the tests wait for: the times the reader waited for a
	// slot, the times watch went idle, and the calls handed to workers.
	slotWaits  atomic.Int64
	watchIdles atomic.Int64
	handed     atomic.Int64
	busy       chan struct{} // tells an idle watch a call has come

	// Writer state.
	wmu        sync.Mutex
	wroom      *sync.Cond // signalled when wbuf empties or writing fails
	wbuf       []byte     // encoded frames not yet written
	wdead      bool       // a write failed: frames are dropped
	writing    bool       // a goroutine writes: the writer, or a call's
	held       bool       // wbuf has answers the reader holds (flushHeld)
	wdeadline  time.Time  // the write deadline set; the writing goroutine's
	maxQueued  int        // bytes of wbuf past which the reader and calls wait
	wake       chan struct{}
	wquit      chan struct{}
	writerOn   bool           // a writer goroutine runs; under wmu
	writerStop bool           // stopIdleWriter asks it to end; under wmu
	writers    sync.WaitGroup // the writer goroutines

	// emu guards err, the first fatal error, kept by fail.
	emu sync.Mutex
	err error

	hmu           sync.Mutex
	clientName    string
	clientVersion string
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{
		srv:         s,
		nc:          nc,
		log:         s.cfg.Logger.With("remote", nc.RemoteAddr().String()),
		connectedAt: time.Now(),
		calls:       make(map[int32]*callCtx),
		slow:        make(slowFuncs),
		readerEnd:   make(chan error, 1),
		work:        make(chan job),
		busy:        make(chan struct{}, 1),
		slots:       make(chan struct{}, s.cfg.MaxInFlight),
		wake:        make(chan struct{}, 1),
		wquit:       make(chan struct{}),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.wroom = sync.NewCond(&c.wmu)
	c.maxQueued = 2 * s.cfg.Limits.MaxBodySize
	c.rb = newReadBuffer(c)
	c.dec = NewDecoder(c.rb, s.cfg.Limits)
	// The reader is done with a packet's bytes before the next: a call
	// keeps its decoded arguments and a copy of its extensions.
	c.dec.ReuseBuffers(true)
	return c
}

// errPeerDone ends a reader that found the peer's stream ended at a frame
// boundary: the calls in flight are still answered.
var errPeerDone = errors.New("peer ended its requests")

// serve runs the connection to its end, in the teardown order written at
// conn.
func (c *conn) serve() {
	c.rcheck = c.connectedAt.Add(c.srv.cfg.HandshakeTimeout)
	c.nc.SetReadDeadline(c.rcheck)
	err := c.readLoop()
	if err == errHandedOver {
		err = <-c.readerEnd // takeOver has called fail
	} else if err != nil && err != errPeerDone {
		// The peer is gone or its stream is broken: nobody will read the
		// answers of the calls still running.
		c.fail(err)
	}
	c.callWG.Wait()
	c.readers.Wait()
	c.rb.drop() // no reader is left
	c.cancel()
	c.workers.Wait()
	c.wmu.Lock()
	c.wakeWriterLocked() // to write what is left, and end
	c.wmu.Unlock()
	close(c.wquit)
	c.writers.Wait()
	c.nc.Close()
	if first := c.firstErr(); first != nil {
		err = first
	}
	switch {
	case err == nil, err == errPeerDone, errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), errors.Is(err, ErrServerClosed):
		c.log.Debug("connection closed")
	case errors.Is(err, ErrIdleTimeout), errors.Is(err, errWriteFailed):
		c.log.Debug("connection closed", "err", err)
	default:
		c.log.Info("connection closed", "err", err)
	}
}

// fail ends the connection with err, the first error only: it cancels the
// connection's context, which every loop but the writer's selects on, and
// stops the calls in flight. It can be called again, from any goroutine.
func (c *conn) fail(err error) {
	c.emu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.emu.Unlock()
	c.cancel()
	c.cmu.Lock()
	for _, cc := range c.calls {
		cc.stop()
	}
	c.cmu.Unlock()
}

// firstErr returns the error fail kept, nil if it was not called.
func (c *conn) firstErr() error {
	c.emu.Lock()
	defer c.emu.Unlock()
	return c.err
}

// stopReading makes the reader stop at the next frame boundary. A frame
// already begun is read to its end and served.
func (c *conn) stopReading() {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	c.stopping = true
	if c.idle {
		c.nc.SetReadDeadline(time.Unix(1, 0))
	}
}

// abort tears the connection down at once, cancelling its calls.
func (c *conn) abort() {
	c.fail(ErrServerClosed)
	c.nc.Close()
}

func (c *conn) info() ClientInfo {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	return ClientInfo{Addr: c.nc.RemoteAddr().String(), Name: c.clientName, Version: c.clientVersion, ConnectedAt: c.connectedAt}
}
