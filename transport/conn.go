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

// conn serves one peer. Its reader goroutine (serve) decodes packets and
// hands each call to a worker goroutine: an idle one, or a new one when
// all are busy. A worker idle for workerIdle ends; one that lives keeps
// the stack its calls grew, which a goroutine per call would grow again
// for every call. One writer goroutine (writeLoop) writes everything
// queued since its last write in one system call, so responses are
// coalesced under load.
type conn struct {
	srv         *Server
	nc          net.Conn
	br          *bufio.Reader
	dec         *Decoder
	log         *slog.Logger
	connectedAt time.Time

	// ctx is cancelled when the connection is torn down, which cancels
	// the calls still running.
	ctx    context.Context
	cancel context.CancelFunc

	// Reader state shared with stopReading.
	rmu      sync.Mutex
	stopping bool // Shutdown asked the reader to stop at a frame boundary
	idle     bool // the reader waits between frames

	// Frame deadline state, owned by the reader goroutine.
	midFrame bool
	armed    bool

	// Calls in flight, by tid.
	cmu      sync.Mutex
	calls    map[int32]*callCtx
	slots    chan struct{} // MaxInFlight tokens
	running  atomic.Int32
	callWG   sync.WaitGroup
	work     chan job       // to an idle worker
	workers  sync.WaitGroup // the workers and expireLoop, which end with ctx
	expiring bool           // expireLoop runs; under cmu
	busy     chan struct{}  // tells an idle expireLoop a call has come

	// Writer state.
	wmu       sync.Mutex
	wroom     *sync.Cond // signalled when wbuf empties or writing fails
	wbuf      []byte     // encoded frames not yet written
	wdead     bool       // a write failed: frames are dropped
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
		c.nc.SetReadDeadline(time.Now().Add(c.srv.cfg.FrameTimeout))
		c.armed = true
	}
	return c.nc.Read(p)
}

// serve runs the connection to its end: it reads until the peer goes away,
// a frame is malformed, or Shutdown stops the reader; then it waits for the
// calls in flight, flushes their responses and closes the connection.
func (c *conn) serve() {
	go c.writeLoop()
	err := c.readLoop()
	if err != nil {
		// The peer is gone or its stream is broken: nobody will read the
		// answers of the calls still running.
		c.cancel()
	}
	c.callWG.Wait()
	c.cancel()
	c.workers.Wait()
	close(c.wquit)
	<-c.wdone
	c.nc.Close()
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		c.log.Debug("connection closed")
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
	c.cancel()
	c.nc.Close()
}

// readLoop reads packets until an error, or until stopReading. It returns
// nil when it was stopped.
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
			if stopping && errors.Is(err, os.ErrDeadlineExceeded) {
				return nil
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
			c.nc.SetReadDeadline(time.Time{})
			c.armed = false
		}
		if err != nil {
			c.frameFailed(err)
			return err
		}
		c.handle(&p)
	}
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

func (c *conn) handle(p *Packet) {
	switch p.Type {
	case TypeRequest:
		c.handleRequest(p)
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
		c.hmu.Lock()
		c.clientName, c.clientVersion = p.ClientName, p.ClientVersion
		c.hmu.Unlock()
		c.send(&Packet{Version: p.Version, TID: p.TID, Type: TypeServerHello, ServerVersion: c.srv.cfg.Version})
	case TypePong:
		// An answer to nothing: harmless.
	default:
		// Packets only a server sends, and auth, which is not supported.
		c.log.Debug("unexpected packet", "type", p.Type, "tid", p.TID)
		c.sendError(p.Version, p.TID, CodeInvalidPacket)
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
}

func (c *conn) handleRequest(p *Packet) {
	codec, err := CodecFor(c.srv.cfg.Codecs, p.ContentType)
	if err != nil {
		c.reject(p, err)
		return
	}
	var args []any
	if len(p.Body) > 0 {
		if err := codec.Unmarshal(p.Body, &args); err != nil {
			c.reject(p, fmt.Errorf("arguments: %w", err))
			return
		}
	}
	deadline, err := callDeadline(codec, p.Extensions)
	if err != nil {
		c.reject(p, err)
		return
	}
	if !deadline.IsZero() && !time.Now().Before(deadline) {
		c.sendError(p.Version, p.TID, CodeCanceled)
		return
	}

	// Wait for a slot: at MaxInFlight the reader stops reading.
	select {
	case c.slots <- struct{}{}:
	case <-c.ctx.Done():
		return
	}
	if !deadline.IsZero() && !time.Now().Before(deadline) {
		<-c.slots // its deadline passed while it waited
		c.sendError(p.Version, p.TID, CodeCanceled)
		return
	}
	cc := newCallCtx(c.ctx, deadline)
	c.cmu.Lock()
	if _, dup := c.calls[p.TID]; dup {
		c.cmu.Unlock()
		cc.stop()
		<-c.slots
		c.reject(p, fmt.Errorf("tid %d is already in flight", p.TID))
		return
	}
	c.calls[p.TID] = cc
	if !deadline.IsZero() && !c.expiring {
		c.expiring = true
		c.workers.Add(1)
		go c.expireLoop()
	}
	c.cmu.Unlock()

	cl := &call{version: p.Version, tid: p.TID, codec: codec, name: p.Name, args: args, exts: p.Extensions}
	if c.running.Add(1) == 1 {
		select {
		case c.busy <- struct{}{}:
		default:
		}
	}
	c.callWG.Add(1)
	j := job{cc, cl}
	select {
	case c.work <- j:
	default:
		c.workers.Add(1)
		go c.worker(j)
	}
}

// deadlineTick is how often the calls of a connection are checked against
// their deadlines: a call is stopped at most this long after its deadline.
const deadlineTick = 5 * time.Millisecond

// callCtx is the context of a call: cancelled by an interrupt, by the
// connection's end, or by expireLoop at its deadline. A call's deadline
// is checked by its connection, every deadlineTick, rather than by a
// timer of its own: the timers of tens of thousands of short calls a
// second cost more than the calls.
//
// Its Err is context.DeadlineExceeded once the deadline passed, and so is
// the Cause of contexts made from it; their Err is context.Canceled.
type callCtx struct {
	context.Context // a cancelCtx, so contexts made from it are cancelled with it
	cancel          context.CancelCauseFunc
	deadline        time.Time // zero when none
	expired         atomic.Bool
}

func newCallCtx(parent context.Context, deadline time.Time) *callCtx {
	ctx, cancel := context.WithCancelCause(parent)
	return &callCtx{Context: ctx, cancel: cancel, deadline: deadline}
}

// stop cancels the call: interrupted, or ended.
func (c *callCtx) stop() { c.cancel(nil) }

func (c *callCtx) Deadline() (time.Time, bool) { return c.deadline, !c.deadline.IsZero() }

// Err is context.DeadlineExceeded once the deadline stopped the call.
func (c *callCtx) Err() error {
	err := c.Context.Err()
	if err != nil && c.expired.Load() {
		return context.DeadlineExceeded
	}
	return err
}

// expire cancels c if its deadline has passed at now.
func (c *callCtx) expire(now time.Time) {
	if !c.deadline.IsZero() && !now.Before(c.deadline) && c.Context.Err() == nil {
		c.expired.Store(true)
		c.cancel(context.DeadlineExceeded)
	}
}

// expireLoop stops the calls past their deadlines, every deadlineTick
// while calls run, until the connection ends. It starts with the first
// call that has a deadline.
func (c *conn) expireLoop() {
	defer c.workers.Done()
	tick := time.NewTicker(deadlineTick)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-c.ctx.Done():
			return
		}
		if c.running.Load() == 0 {
			tick.Stop() // idle: no ticks until a call comes
			select {
			case <-c.busy:
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
	}
}

// job is a call for a worker to run.
type job struct {
	cc *callCtx
	cl *call
}

// workerIdle is how long a worker waits for another call before it ends.
const workerIdle = 5 * time.Second

// worker runs j, then the calls handed to it, until it has been idle for
// workerIdle or the connection ends.
func (c *conn) worker(j job) {
	defer c.workers.Done()
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		c.run(j.cc, j.cl)
		idle.Reset(workerIdle)
		select {
		case j = <-c.work:
		case <-idle.C:
			return
		case <-c.ctx.Done():
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
		if codec.ContentType() == ContentJSON {
			// The common case, a JSON integer, without a JSON decoder.
			if ms, err := strconv.ParseInt(string(e.Value), 10, 64); err == nil {
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
	c.queue(&p, true)
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
	c.queue(p, false)
}

// queue queues p for the writer; with wait, only once the queue has room,
// so that answers, which may be large, never pile up past maxQueued.
func (c *conn) queue(p *Packet, wait bool) {
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
	c.wmu.Unlock()
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
	var deadline time.Time // the write deadline set
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
		buf := c.wbuf
		c.wbuf = spare[:0]
		c.wroom.Broadcast()
		c.wmu.Unlock()
		if len(buf) > 0 {
			// Each write gets between 3/4 of WriteTimeout and all of it:
			// moving the deadline costs a timer update, not made for
			// every write.
			timeout := c.srv.cfg.WriteTimeout
			if now := time.Now(); deadline.Sub(now) < timeout*3/4 {
				deadline = now.Add(timeout)
				c.nc.SetWriteDeadline(deadline)
			}
			if _, err := c.nc.Write(buf); err != nil {
				c.wmu.Lock()
				c.wdead = true
				c.wbuf = nil
				c.wroom.Broadcast()
				c.wmu.Unlock()
				c.log.Debug("write failed", "err", err)
				c.abort()
				return
			}
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

func (c *conn) info() ClientInfo {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	return ClientInfo{Addr: c.nc.RemoteAddr().String(), Name: c.clientName, Version: c.clientVersion, ConnectedAt: c.connectedAt}
}
