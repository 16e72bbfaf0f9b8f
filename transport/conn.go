package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// conn serves one peer. Its reader goroutine decodes packets and runs
// each call itself, or hands it to a worker goroutine: an idle one, or a
// new one when all are busy. The reader runs a call itself (inline) unless
// its function has been slow on this connection: a call is cheaper run
// than handed over, and short calls gain nothing from running beside the
// reader. A function whose inline call took more than inlineMax is slow on
// the connection for a while (slowFuncs). An inline call still running
// after deadlineTick goes on as if handed over: its function is marked
// slow, and a new reader goroutine takes over the reading (watch does
// that), so a call that blocks holds the calls behind it for a few
// milliseconds at most, once.
//
// The workers idle at the time end every workerIdle; one that lives keeps the stack its calls grew, which a goroutine per call would
// grow again for every call. One writer goroutine (writeLoop) writes
// everything queued since its last write in one system call, so responses
// are coalesced under load; the answer of the only call running, when no
// more requests had come as it was read, is written by the call's
// goroutine, when no write is under way: that saves waking the writer.
//
// The reader bounds how long a peer may hold the connection without using
// it, with one read deadline that it moves only now and then (readCheck):
// until the handshake is done (a first frame, and an accepted token when
// tokens are required) the deadline is HandshakeTimeout after the
// connection began; after, the reader looks every quarter of IdleTimeout
// whether a frame came or a call is in flight, and closes the connection
// after four looks in a row found neither. A peer that ends its sending
// (EOF at a frame boundary, as shutdown(SHUT_WR) makes) gets the answers of
// its calls in flight before the connection is closed: they run to their
// end or deadline; a write that fails (the peer closed entirely) cancels
// the rest.
type conn struct {
	srv         *Server
	nc          net.Conn
	br          *bufio.Reader
	dec         *Decoder
	log         *slog.Logger
	connectedAt time.Time

	// ctx is cancelled when the connection is torn down, and so are the
	// calls still running (cancelCalls).
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
	busy     chan struct{}  // tells an idle watch a call has come

	// Writer state.
	wmu       sync.Mutex
	wroom     *sync.Cond // signalled when wbuf empties or writing fails
	wbuf      []byte     // encoded frames not yet written
	wdead     bool       // a write failed: frames are dropped
	writing   bool       // a goroutine writes: the writer, or a call's
	wdeadline time.Time  // the write deadline set; the writing goroutine's
	maxQueued int        // bytes of wbuf past which the reader and calls wait
	wake      chan struct{}
	wquit     chan struct{}
	wdone     chan struct{}

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
		wdone:       make(chan struct{}),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.wroom = sync.NewCond(&c.wmu)
	c.maxQueued = 2 * s.cfg.Limits.MaxBodySize
	c.br = bufio.NewReaderSize(frameReader{c}, 64<<10)
	c.dec = NewDecoder(c.br, s.cfg.Limits)
	return c
}

// frameReader arms the frame deadline when the decoder needs more bytes in
// the middle of a frame, so a peer that promises bytes it never sends can't
// hold the connection.
type frameReader struct{ c *conn }

func (r frameReader) Read(p []byte) (int, error) {
	c := r.c
	if c.midFrame && !c.armed {
		d := time.Now().Add(c.srv.cfg.FrameTimeout)
		if !c.handshaken() && c.rcheck.Before(d) {
			d = c.rcheck // the first frame is bounded by the handshake
		}
		c.nc.SetReadDeadline(d)
		c.armed = true
	}
	return c.nc.Read(p)
}

// idleChecks is how many looks in a row, a quarter of IdleTimeout apart,
// must find a connection quiet before it is closed.
const idleChecks = 4

// handshaken reports whether the peer has sent a frame and, when tokens
// are required, has an accepted one.
func (c *conn) handshaken() bool {
	return c.frames > 0 && (c.authed || c.srv.cfg.Authenticate == nil)
}

// greet moves the read deadline from the handshake's to the idle checks'
// once the handshake is done.
func (c *conn) greet() {
	if !c.greeted && c.handshaken() {
		c.greeted = true
		c.rcheck = time.Now().Add(c.srv.cfg.IdleTimeout / idleChecks)
		c.nc.SetReadDeadline(c.rcheck)
	}
}

// readCheck runs when the read deadline between frames passes: it returns
// why the connection is closed, or moves the deadline on.
func (c *conn) readCheck() error {
	if !c.handshaken() {
		return ErrHandshakeTimeout
	}
	switch {
	case c.running.Load() > 0:
		// Quiet from the next look on at the soonest: a call may end
		// just after this one.
		c.quiet = -1
	case c.frames != c.checked:
		c.quiet = 0
	default:
		c.quiet++
		if c.quiet >= idleChecks {
			return ErrIdleTimeout
		}
	}
	c.checked = c.frames
	c.rcheck = time.Now().Add(c.srv.cfg.IdleTimeout / idleChecks)
	c.nc.SetReadDeadline(c.rcheck)
	return nil
}

// errPeerDone ends a reader that found the peer's stream ended at a frame
// boundary: the calls in flight are still answered.
var errPeerDone = errors.New("peer ended its requests")

// serve runs the connection to its end: it reads until the peer goes away,
// a frame is malformed, or Shutdown stops the reader; then it waits for the
// calls in flight, flushes their responses and closes the connection.
func (c *conn) serve() {
	c.rcheck = c.connectedAt.Add(c.srv.cfg.HandshakeTimeout)
	c.nc.SetReadDeadline(c.rcheck)
	go c.writeLoop()
	err := c.readLoop()
	if err == errHandedOver {
		err = <-c.readerEnd
	}
	if err != nil && err != errPeerDone {
		// The peer is gone or its stream is broken: nobody will read the
		// answers of the calls still running.
		c.cancelCalls()
	}
	c.callWG.Wait()
	c.readers.Wait()
	c.cancel()
	c.workers.Wait()
	close(c.wquit)
	<-c.wdone
	c.nc.Close()
	switch {
	case err == nil, err == errPeerDone, errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		c.log.Debug("connection closed")
	case errors.Is(err, ErrIdleTimeout):
		c.log.Debug("connection closed", "err", err)
	default:
		c.log.Info("connection closed", "err", err)
	}
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
	c.cancelCalls()
	c.nc.Close()
}

// cancelCalls cancels the connection's context and its calls.
func (c *conn) cancelCalls() {
	c.cancel()
	c.cmu.Lock()
	for _, cc := range c.calls {
		cc.stop()
	}
	c.cmu.Unlock()
}

// errHandedOver ends a reader whose inline call was slow: another reader
// goroutine took over.
var errHandedOver = errors.New("reading handed over")

// readLoop reads packets until an error, or until stopReading. It returns
// nil when it was stopped, errHandedOver when another goroutine took the
// reading over, errPeerDone when the peer ended its stream between
// frames.
func (c *conn) readLoop() error {
	var p Packet
	for {
		// A peer that doesn't read its answers gets no more served.
		c.waitForRoom()
		c.rmu.Lock()
		if c.stopping {
			c.rmu.Unlock()
			return nil
		}
		c.idle = true
		c.rmu.Unlock()

		_, err := c.br.Peek(1)

		c.rmu.Lock()
		c.idle = false
		stopping := c.stopping
		c.rmu.Unlock()
		if err != nil {
			switch {
			case stopping && errors.Is(err, os.ErrDeadlineExceeded):
				return nil
			case errors.Is(err, os.ErrDeadlineExceeded):
				if err := c.readCheck(); err != nil {
					return err
				}
				continue
			case errors.Is(err, io.EOF):
				return errPeerDone
			}
			return err
		}
		if stopping {
			// stopReading may have set a past deadline just as this
			// frame arrived: the next read re-arms the frame deadline.
			c.armed = false
		}

		c.midFrame = true
		err = c.dec.Decode(&p)
		c.midFrame = false
		if c.armed {
			c.nc.SetReadDeadline(c.rcheck)
			c.armed = false
		}
		if err != nil {
			c.frameFailed(err)
			if !c.handshaken() && errors.Is(err, os.ErrDeadlineExceeded) {
				return fmt.Errorf("%w: %w", ErrHandshakeTimeout, err)
			}
			return err
		}
		c.frames++
		c.greet() // before a call that may run inline long
		if !c.handle(&p) {
			return errHandedOver
		}
		if c.closeErr != nil {
			return c.closeErr
		}
		c.greet() // after an accepted token

	}
}

// takeOver is the start of a reader goroutine taking over from one whose
// inline call of function name is slow.
func (c *conn) takeOver(name string) {
	defer c.readers.Done()
	c.slow.ran(name, true)
	err := c.readLoop()
	if err == errHandedOver {
		return
	}
	if err != nil && err != errPeerDone {
		// As serve does, which may be in the inline call that waits for
		// this very cancellation.
		c.cancelCalls()
	}
	c.readerEnd <- err
}

// frameFailed answers a frame that could not be decoded, where there is
// someone to answer. Framing is lost either way: the caller closes.
func (c *conn) frameFailed(err error) {
	var fe *FrameError
	if !errors.As(err, &fe) {
		return
	}
	switch {
	case errors.Is(err, ErrUnsupportedVersion):
		c.sendError(V6, 0, CodeProtocolMismatch)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, net.ErrClosed):
		// The peer stopped sending or went away mid-frame.
	case fe.HeaderRead:
		c.sendError(fe.Version, fe.TID, CodeInvalidPacket)
	}
}

// handle serves p. It reports false when the reading was handed over to
// another goroutine while a call ran inline.
func (c *conn) handle(p *Packet) bool {
	if !c.authed && c.srv.cfg.Authenticate != nil {
		switch p.Type {
		case TypeRequest, TypeInspectReq, TypeInterrupt:
			c.log.Debug("call before authentication", "type", p.Type, "tid", p.TID)
			c.sendError(p.Version, p.TID, CodeACLReject)
			return true
		}
	}
	switch p.Type {
	case TypeRequest:
		return c.handleRequest(p)
	case TypePing:
		c.send(&Packet{Version: p.Version, TID: p.TID, Type: TypePong})
	case TypeInterrupt:
		c.cmu.Lock()
		cc := c.calls[p.TargetTID]
		c.cmu.Unlock()
		if cc != nil {
			cc.stop()
		}
	case TypeInspectReq:
		c.handleInspect(p)
	case TypeClientHello:
		name, version := cutHello(p.ClientName), cutHello(p.ClientVersion)
		if len(name) < len(p.ClientName) || len(version) < len(p.ClientVersion) {
			c.log.Debug("client-hello cut", "name", len(p.ClientName), "version", len(p.ClientVersion), "limit", MaxHelloString)
		}
		c.hmu.Lock()
		c.clientName, c.clientVersion = name, version
		c.hmu.Unlock()
		c.send(&Packet{Version: p.Version, TID: p.TID, Type: TypeServerHello, ServerVersion: c.srv.cfg.Version})
	case TypeAuthReq:
		res := AuthOK
		if auth := c.srv.cfg.Authenticate; auth != nil {
			c.authed = auth(p.Token)
			if !c.authed {
				res = AuthReject
				c.authFails++
				c.log.Info("authentication refused", "refused", c.authFails, "max", c.srv.cfg.MaxAuthFailures)
				c.pause(AuthFailureDelay)
				if c.authFails >= c.srv.cfg.MaxAuthFailures {
					c.closeErr = ErrAuthFailures
				}
			}
		}
		c.send(&Packet{Version: p.Version, TID: p.TID, Type: TypeAuthAck, AuthResult: res})
	case TypePong:
		// An answer to nothing: harmless.
	default:
		// Packets only a server sends.
		c.log.Debug("unexpected packet", "type", p.Type, "tid", p.TID)
		c.sendError(p.Version, p.TID, CodeInvalidPacket)
	}
	return true
}

// pause waits for d, or for the connection's end.
func (c *conn) pause(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.ctx.Done():
	}
}

// call is one request being served.
type call struct {
	version Version
	tid     int32
	codec   Codec
	name    string
	args    []any
	exts    []Extension
	start   time.Time // when it was read
	more    bool      // more bytes had come when it was read
	ctx     callCtx   // its context, allocated with it
}

func (c *conn) handleRequest(p *Packet) bool {
	codec, err := CodecFor(c.srv.cfg.Codecs, p.ContentType)
	if err != nil {
		c.reject(p, err)
		return true
	}
	if !c.srv.serves(p.Name) {
		c.notServed(p, codec) // its body never decoded
		return true
	}
	deadline, err := callDeadline(codec, p.Extensions)
	if err != nil {
		c.reject(p, err)
		return true
	}
	now := time.Now()
	if !deadline.IsZero() && !now.Before(deadline) {
		c.sendError(p.Version, p.TID, CodeCanceled)
		return true
	}

	// Wait for a slot: at MaxInFlight the reader stops reading.
	select {
	case c.slots <- struct{}{}:
	default:
		select {
		case c.slots <- struct{}{}:
		case <-c.ctx.Done():
			return true
		}
		now = time.Now()
		if !deadline.IsZero() && !now.Before(deadline) {
			<-c.slots // its deadline passed while it waited
			c.sendError(p.Version, p.TID, CodeCanceled)
			return true
		}
	}
	args, err := DecodeArgs(codec, p.Body, DecodeBudget(len(p.Body)))
	if err != nil {
		<-c.slots
		c.refuseArgs(p, codec, err)
		return true
	}
	cl := &call{version: p.Version, tid: p.TID, codec: codec, name: p.Name, args: args, exts: p.Extensions, start: now, more: c.br.Buffered() > 0}
	cc := &cl.ctx
	cc.init(deadline)
	c.cmu.Lock()
	if c.ctx.Err() != nil {
		c.cmu.Unlock()
		<-c.slots // torn down: cancelCalls has been through the calls
		return true
	}
	if _, dup := c.calls[p.TID]; dup {
		c.cmu.Unlock()
		cc.stop()
		<-c.slots
		c.reject(p, fmt.Errorf("tid %d is already in flight", p.TID))
		return true
	}
	c.calls[p.TID] = cc
	if !c.watching {
		c.watching = true
		c.workers.Add(1)
		go c.watch()
	}
	c.cmu.Unlock()

	if c.running.Add(1) == 1 {
		select {
		case c.busy <- struct{}{}:
		default:
		}
	}
	c.callWG.Add(1)
	if c.slow.inline(cl.name) {
		return c.runInline(cc, cl)
	}
	j := job{cc, cl}
	select {
	case c.work <- j:
	default:
		c.workers.Add(1)
		go c.worker(j)
	}
	return true
}

// inlineMax is how long an inline call may run before its function is
// slow on the connection: its next calls are handed to workers.
const inlineMax = 50 * time.Microsecond

// runInline runs a call on the reader goroutine. It reports false when
// the call was slow enough that watch handed the reading over.
func (c *conn) runInline(cc *callCtx, cl *call) bool {
	c.inline.Store(cl)
	c.run(cc, cl)
	if !c.inline.CompareAndSwap(cl, nil) {
		return false
	}
	c.slow.ran(cl.name, time.Since(cl.start) > inlineMax)
	return true
}

// slowFuncs are the functions slow on a connection. A function is slow
// when its last inline call took more than inlineMax; its next calls go to
// workers, 64 of them, and then one runs inline again to see. Each slow
// call in a row doubles the calls to hand over before the next try, up to
// 65536: a function that is always slow runs inline rarely, one that was
// slow once (its first call, which loaded a VM, say) soon runs inline
// again.
type slowFuncs map[string]*slowness

// maxSlowFuncs bounds the functions a connection keeps as slow.
const maxSlowFuncs = 64

type slowness struct {
	skip  int // calls to hand over before the next inline one
	after int // the skip after the next slow call
}

// inline reports whether a call of name runs inline.
func (m slowFuncs) inline(name string) bool {
	s := m[name]
	if s == nil || s.skip == 0 {
		return true
	}
	s.skip--
	return false
}

// ran records how long an inline call of name took.
func (m slowFuncs) ran(name string, slow bool) {
	s := m[name]
	switch {
	case slow && s == nil && len(m) < maxSlowFuncs:
		m[name] = &slowness{skip: 64, after: 128}
	case slow && s == nil:
		// A peer calling ever new names that are slow (not found
		// remotely, say) can't grow the set: the others run inline.
	case slow:
		s.skip, s.after = s.after, min(2*s.after, 65536)
	case s != nil:
		delete(m, name)
	}
}

// deadlineTick is how often the calls of a connection are checked against
// their deadlines: a call is stopped at most this long after its deadline.
const deadlineTick = 5 * time.Millisecond

// callCtx is the context of a call: cancelled by an interrupt, by the
// connection's end, or by expireLoop at its deadline. A call's deadline
// is checked by its connection, every deadlineTick, rather than by a
// timer of its own: the timers of tens of thousands of short calls a
// second cost more than the calls. It is a context of its own rather than
// one of package context's, which would make each call a child of the
// connection's context, in a set that every call of the connection locks
// twice.
//
// Its Err is context.Canceled once stopped, context.DeadlineExceeded once
// its deadline passed; contexts made from it end with it, with its Err
// as their Err and their Cause.
type callCtx struct {
	deadline time.Time // zero when none
	done     chan struct{}
	state    atomic.Int32 // running, canceled or expired

	mu     sync.Mutex
	afters map[*afterFunc]struct{} // of AfterFunc, until the end
}

// The states of a callCtx.
const (
	running int32 = iota
	canceled
	expired
)

type afterFunc struct{ f func() }

// init readies a new callCtx.
func (c *callCtx) init(deadline time.Time) {
	c.deadline, c.done = deadline, make(chan struct{})
}

func (c *callCtx) Deadline() (time.Time, bool) { return c.deadline, !c.deadline.IsZero() }
func (c *callCtx) Done() <-chan struct{}       { return c.done }
func (c *callCtx) Value(any) any               { return nil }

func (c *callCtx) Err() error {
	select {
	case <-c.done: // closed after state is set: Err is nil until Done is closed
	default:
		return nil
	}
	switch c.state.Load() {
	case canceled:
		return context.Canceled
	case expired:
		return context.DeadlineExceeded
	}
	return nil
}

// stop cancels the call: interrupted, or ended. It can be called again.
func (c *callCtx) stop() { c.end(canceled) }

// expire cancels c if its deadline has passed at now.
func (c *callCtx) expire(now time.Time) {
	if !c.deadline.IsZero() && !now.Before(c.deadline) {
		c.end(expired)
	}
}

func (c *callCtx) end(state int32) {
	c.mu.Lock()
	if !c.state.CompareAndSwap(running, state) {
		c.mu.Unlock()
		return
	}
	close(c.done)
	afters := c.afters
	c.afters = nil
	c.mu.Unlock()
	for a := range afters {
		a.f()
	}
}

// AfterFunc arranges for f to run once c ends, as package context's
// contexts made from c ask; stop undoes it, reporting whether it did.
func (c *callCtx) AfterFunc(f func()) (stop func() bool) {
	a := &afterFunc{f}
	c.mu.Lock()
	if c.state.Load() != running {
		c.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	if c.afters == nil {
		c.afters = make(map[*afterFunc]struct{})
	}
	c.afters[a] = struct{}{}
	c.mu.Unlock()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		_, ok := c.afters[a]
		delete(c.afters, a)
		return ok
	}
}

// watch stops the calls past their deadlines, every deadlineTick while
// calls run, hands the reading over from a slow inline call, and ends the
// workers idle every workerIdle, until the connection ends. It starts
// with the first call.
func (c *conn) watch() {
	defer c.workers.Done()
	tick := time.NewTicker(deadlineTick)
	defer tick.Stop()
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	reaped := time.Now() // when the idle workers were last ended
	for {
		select {
		case <-tick.C:
		case <-c.ctx.Done():
			return
		}
		if c.running.Load() == 0 {
			tick.Stop() // idle: no ticks until a call comes
			idle.Reset(workerIdle)
			select {
			case <-c.busy:
			case <-idle.C:
				c.endIdleWorkers()
				reaped = time.Now()
				select {
				case <-c.busy:
				case <-c.ctx.Done():
					return
				}
			case <-c.ctx.Done():
				return
			}
			tick.Reset(deadlineTick)
		}
		now := time.Now()
		c.cmu.Lock()
		for _, cc := range c.calls {
			cc.expire(now)
		}
		c.cmu.Unlock()
		c.handOver(now)
		if now.Sub(reaped) >= workerIdle {
			// Calls come now and then: end the workers they leave idle.
			c.endIdleWorkers()
			reaped = now
		}
	}
}

// handOver starts a reader goroutine when the reader has been running a
// call inline for deadlineTick or longer.
func (c *conn) handOver(now time.Time) {
	cl := c.inline.Load()
	if cl != nil && now.Sub(cl.start) >= deadlineTick && c.inline.CompareAndSwap(cl, nil) {
		c.readers.Add(1)
		go c.takeOver(cl.name)
	}
}

// job is a call for a worker to run; the zero job tells it to end.
type job struct {
	cc *callCtx
	cl *call
}

// workerIdle is how long a connection's workers wait for calls when none
// comes before they end.
const workerIdle = 5 * time.Second

// worker runs j, then the calls handed to it, until endIdleWorkers or the
// connection's end.
func (c *conn) worker(j job) {
	defer c.workers.Done()
	for j.cc != nil {
		c.run(j.cc, j.cl)
		select {
		case j = <-c.work:
		case <-c.ctx.Done():
			return
		}
	}
}

// endIdleWorkers ends the workers waiting for a call.
func (c *conn) endIdleWorkers() {
	for {
		select {
		case c.work <- job{}:
		default:
			return
		}
	}
}

// reject answers a request that can't be served with invalid-packet.
func (c *conn) reject(p *Packet, err error) {
	c.log.Debug("invalid request", "tid", p.TID, "name", p.Name, "err", err)
	c.sendError(p.Version, p.TID, CodeInvalidPacket)
}

// callDeadline returns the deadline carried by a request's extensions, or
// the zero time.
func callDeadline(codec Codec, exts []Extension) (time.Time, error) {
	for _, e := range exts {
		if e.ID != DeadlineExtension {
			continue
		}
		// The common case, an integer, decoded without boxing.
		switch codec.ContentType() {
		case ContentJSON:
			if ms, err := strconv.ParseInt(string(e.Value), 10, 64); err == nil {
				return time.UnixMilli(ms), nil
			}
		case ContentMsgpack:
			if ms, ok := msgpackInt(e.Value); ok {
				return time.UnixMilli(ms), nil
			}
		}
		var v any
		if err := codec.Unmarshal(e.Value, &v); err != nil {
			return time.Time{}, fmt.Errorf("deadline extension: %w", err)
		}
		switch ms := v.(type) {
		case int64:
			return time.UnixMilli(ms), nil
		case uint64:
			return time.UnixMilli(int64(min(ms, 1<<62))), nil
		case float64:
			if math.IsNaN(ms) {
				return time.Time{}, errors.New("deadline extension: NaN")
			}
			return time.UnixMilli(int64(max(min(ms, 1<<62), -(1 << 62)))), nil
		case nil:
			return time.Time{}, nil
		default:
			return time.Time{}, fmt.Errorf("deadline extension: %T is not a number", v)
		}
	}
	return time.Time{}, nil
}

func (c *conn) run(ctx *callCtx, cl *call) {
	defer func() {
		ctx.stop()
		c.running.Add(-1)
		<-c.slots
		c.callWG.Done()
	}()
	res, err := c.invoke(ctx, cl)
	// Release the tid before answering: the peer may reuse it as soon as
	// it has the answer.
	c.cmu.Lock()
	delete(c.calls, cl.tid)
	c.cmu.Unlock()
	if c.ctx.Err() != nil {
		return // the connection is gone
	}
	c.respond(cl, res, err)
}

// invoke calls the handler, turning a panic into an exception.
func (c *conn) invoke(ctx context.Context, cl *call) (res any, err error) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("handler panicked", "name", cl.name, "panic", r)
			res, err = nil, fmt.Errorf("internal error: %v", r)
		}
	}()
	return c.srv.h.Call(ctx, cl.name, cl.args)
}

func (c *conn) respond(cl *call, res any, err error) {
	c.waitForRoom()
	code := CodeOf(err)
	var body []byte
	switch code {
	case CodeSuccess:
		var merr error
		body, merr = cl.codec.Marshal(res)
		if merr == nil && len(body) > c.srv.cfg.Limits.MaxBodySize {
			merr = fmt.Errorf("%d bytes, limit %d", len(body), c.srv.cfg.Limits.MaxBodySize)
		}
		if merr != nil {
			code = CodeException
			body, _ = cl.codec.Marshal("cannot encode result: " + merr.Error())
		}
	case CodeException:
		body, _ = cl.codec.Marshal(err.Error())
	default:
		c.sendError(cl.version, cl.tid, code)
		return
	}
	p := Packet{Version: cl.version, TID: cl.tid, Type: TypeResponse, ContentType: cl.codec.ContentType(), Code: code, Body: body}
	if cl.version == V6 {
		p.Extensions = cl.exts
	}
	c.queue(&p, true, !cl.more && c.running.Load() == 1)
}

func (c *conn) sendError(v Version, tid int32, code Code) {
	if v != V5 {
		v = V6
	}
	c.send(&Packet{Version: v, TID: tid, Type: TypeError, Code: code})
}

// waitForRoom waits while more than maxQueued bytes wait to be written, so
// a peer that reads slowly or not at all can't make the server hold its
// answers without bound. A peer that reads nothing for WriteTimeout fails
// the writer, which releases the waiters.
func (c *conn) waitForRoom() {
	c.wmu.Lock()
	for len(c.wbuf) > c.maxQueued && !c.wdead {
		c.wroom.Wait()
	}
	c.wmu.Unlock()
}

// send queues p for the writer.
func (c *conn) send(p *Packet) {
	c.queue(p, false, false)
}

// queue queues p for the writer; with wait, only once the queue has room,
// so that answers, which may be large, never pile up past maxQueued. With
// direct, p is written at once, by this goroutine, if no write is under
// way.
func (c *conn) queue(p *Packet, wait, direct bool) {
	c.wmu.Lock()
	for wait && len(c.wbuf) > c.maxQueued && !c.wdead {
		c.wroom.Wait()
	}
	if c.wdead {
		c.wmu.Unlock()
		return
	}
	n := len(c.wbuf)
	b, err := AppendPacket(c.wbuf, p)
	if err != nil {
		c.wbuf = b[:n]
		c.wmu.Unlock()
		c.log.Error("cannot encode packet", "type", p.Type, "tid", p.TID, "err", err)
		return
	}
	c.wbuf = b
	if direct && !c.writing && n == 0 {
		c.writing = true
		c.wbuf = nil
		c.wroom.Broadcast()
		c.wmu.Unlock()
		if !c.write(b) {
			return
		}
		c.wmu.Lock()
		c.writing = false
		if c.wbuf == nil && cap(b) <= 1<<20 {
			c.wbuf = b[:0] // no frame came meanwhile: keep the buffer
		}
		more := len(c.wbuf) > 0
		c.wmu.Unlock()
		if !more {
			return
		}
	} else {
		c.wmu.Unlock()
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// writeLoop writes queued frames, all that queued up since the last write
// in one call, until serve closes wquit; then it writes what is left.
func (c *conn) writeLoop() {
	defer close(c.wdone)
	var spare []byte
	for {
		quit := false
		select {
		case <-c.wake:
		case <-c.wquit:
			quit = true
		}
		// Let the calls finishing now queue their frames too, so they
		// leave in this write rather than one write each; with no call
		// running, none will.
		if c.running.Load() > 0 {
			runtime.Gosched()
		}
		c.wmu.Lock()
		if c.writing {
			// A call's goroutine writes; it wakes the writer when done.
			c.wmu.Unlock()
			if quit {
				return // serve waited for the calls: none writes
			}
			continue
		}
		buf := c.wbuf
		c.wbuf = spare[:0]
		c.writing = len(buf) > 0
		c.wroom.Broadcast()
		c.wmu.Unlock()
		if len(buf) > 0 {
			if !c.write(buf) {
				return
			}
			c.wmu.Lock()
			c.writing = false
			c.wmu.Unlock()
		}
		if cap(buf) > 1<<20 {
			buf = nil // don't keep a huge response's buffer
		}
		spare = buf
		if quit {
			return
		}
	}
}

// write writes buf, by the goroutine that set c.writing. A failed write
// drops the frames queued and those to come, releases the goroutines
// waiting for room, and aborts the connection; write then reports false.
func (c *conn) write(buf []byte) bool {
	// Each write gets between 3/4 of WriteTimeout and all of it: moving
	// the deadline costs a timer update, not made for every write.
	timeout := c.srv.cfg.WriteTimeout
	if now := time.Now(); c.wdeadline.Sub(now) < timeout*3/4 {
		c.wdeadline = now.Add(timeout)
		c.nc.SetWriteDeadline(c.wdeadline)
	}
	if _, err := c.nc.Write(buf); err != nil {
		c.wmu.Lock()
		c.wdead = true
		c.wbuf = nil
		c.wroom.Broadcast()
		c.wmu.Unlock()
		c.log.Debug("write failed", "err", err)
		c.abort()
		return false
	}
	return true
}

func (c *conn) info() ClientInfo {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	return ClientInfo{Addr: c.nc.RemoteAddr().String(), Name: c.clientName, Version: c.clientVersion, ConnectedAt: c.connectedAt}
}
