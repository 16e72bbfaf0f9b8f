package transport

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"time"
)

// Scheduling. The reader runs a call itself (inline) unless its function
// has been slow on this connection: a call is cheaper run than handed
// over, and short calls gain nothing from running beside the reader. A
// function whose inline call took more than inlineMax is slow on the
// connection for a while (slowFuncs), and its calls go to a worker
// goroutine: an idle one, or a new one when all are busy. An inline call
// still running after deadlineTick goes on as if handed over: its
// function is marked slow, and a new reader goroutine takes over the
// reading (watch does that), so a call that blocks holds the calls behind
// it for a few milliseconds at most, once. The workers idle at the time
// end every workerIdle; one that lives keeps the stack its calls grew,
// which a goroutine per call would grow again for every call.

// call is one request being served.
type call struct {
	version Version
	tid     int32
	codec   Codec
	name    string
	args    []any
	exts    []Extension // echoed in the answer: in ext, or fresh
	ext     oneExtension
	start   time.Time // when it was read
	more    bool      // more bytes had come when it was read
	ctx     callCtx   // its context, allocated with it
}

// handleRequest serves a request: it checks it, waits for a slot, decodes
// its arguments and runs it, inline or on a worker. It reports false when
// the reading was handed over while the call ran inline.
func (c *conn) handleRequest(p *Packet) bool {
	now := time.Now()
	codec, deadline, ok := c.admit(p, now)
	if !ok {
		return true
	}
	now, ok = c.takeSlot(p, deadline, now)
	if !ok {
		return true
	}
	body := p.Body
	if _, ours := codec.(argsDecoder); !ours {
		// The body is the decoder's, overwritten by the next packet:
		// another codec's arguments may hold on to its bytes.
		body = bytes.Clone(body)
	}
	args, err := DecodeArgs(codec, body, DecodeBudget(len(body)))
	if err != nil {
		<-c.slots
		c.refuseArgs(p, codec, err)
		return true
	}
	cl := &call{version: p.Version, tid: p.TID, codec: codec, name: p.Name, args: args, start: now, more: c.rb.Buffered() > 0}
	cl.keepExtensions(p.Extensions)
	cl.ctx.init(deadline)
	cl.ctx.trace = callTrace(codec, p.Extensions)
	cl.ctx.size = int32(min(len(body), math.MaxInt32))
	if !c.register(p, &cl.ctx) {
		return true
	}
	return c.dispatch(cl)
}

// keepExtensions keeps a copy of exts, a request's extensions, which the
// decoder overwrites with the next packet's, to echo in the answer: the
// usual one, a deadline, in cl itself.
func (cl *call) keepExtensions(exts []Extension) {
	switch len(exts) {
	case 0:
	case 1:
		cl.ext.ext[0].ID = exts[0].ID
		cl.ext.set(exts[0].Value)
		cl.exts = cl.ext.ext[:]
	default:
		cl.exts = make([]Extension, len(exts))
		for i, e := range exts {
			cl.exts[i] = Extension{ID: e.ID, Value: bytes.Clone(e.Value)}
		}
	}
}

// admit checks a request before it takes a slot: its content type, its
// function and its deadline, at now. It answers a request it refuses and
// reports false.
func (c *conn) admit(p *Packet, now time.Time) (codec Codec, deadline time.Time, ok bool) {
	codec, err := CodecFor(c.srv.cfg.Codecs, p.ContentType)
	if err != nil {
		c.reject(p, err)
		return nil, time.Time{}, false
	}
	if !c.srv.serves(p.Name) {
		c.notServed(p, codec) // its body never decoded
		return nil, time.Time{}, false
	}
	deadline, err = callDeadline(codec, p.Extensions)
	if err != nil {
		c.reject(p, err)
		return nil, time.Time{}, false
	}
	if !deadline.IsZero() && !now.Before(deadline) {
		c.sendError(p.Version, p.TID, CodeCanceled)
		return nil, time.Time{}, false
	}
	return codec, deadline, true
}

// takeSlot waits for one of the MaxInFlight slots: at the bound the reader
// stops reading. It returns now, when the request was read, or the time
// it got its slot if it had to wait; it reports false, holding no slot,
// when the connection ended or the request's deadline passed meanwhile.
func (c *conn) takeSlot(p *Packet, deadline, now time.Time) (time.Time, bool) {
	select {
	case c.slots <- struct{}{}:
		return now, true
	default:
	}
	c.slotWaits.Add(1)
	select {
	case c.slots <- struct{}{}:
	case <-c.ctx.Done():
		return now, false
	}
	now = time.Now()
	if !deadline.IsZero() && !now.Before(deadline) {
		<-c.slots // its deadline passed while it waited
		c.sendError(p.Version, p.TID, CodeCanceled)
		return now, false
	}
	return now, true
}

// register records cc as the call of p's tid, and starts watch with the
// connection's first call. It reports false, releasing the slot, when the
// connection is torn down or the tid is in flight already.
func (c *conn) register(p *Packet, cc *callCtx) bool {
	c.cmu.Lock()
	if c.ctx.Err() != nil {
		c.cmu.Unlock()
		<-c.slots // torn down: fail has been through the calls
		return false
	}
	if _, dup := c.calls[p.TID]; dup {
		c.cmu.Unlock()
		cc.stop()
		<-c.slots
		c.reject(p, fmt.Errorf("tid %d is already in flight", p.TID))
		return false
	}
	c.calls[p.TID] = cc
	if !c.watching {
		c.watching = true
		c.workers.Add(1)
		go c.watch()
	}
	c.cmu.Unlock()
	return true
}

// dispatch runs a registered call inline or hands it to a worker: an idle
// one, or a new one when all are busy. It reports false when the reading
// was handed over while the call ran inline.
func (c *conn) dispatch(cl *call) bool {
	if c.running.Add(1) == 1 {
		select {
		case c.busy <- struct{}{}:
		default:
		}
	}
	c.callWG.Add(1)
	if c.slow.inline(cl.name) {
		return c.runInline(&cl.ctx, cl)
	}
	c.handed.Add(1)
	j := job{&cl.ctx, cl}
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
	c.slow.ran(cl.name, time.Since(cl.start))
	return true
}

// slowFuncs are the functions slow on a connection. A function is slow
// when two inline calls of it in a row took more than inlineMax, or one
// was so slow that its reading was handed over: one call a little slow is
// as often the machine's doing (the reader descheduled, a garbage
// collection) as the function's, and handing over the next calls would
// cost every one of them a goroutine's wake-up. A slow function's next
// calls go to workers, 64 of them, and then one runs inline again to see.
// Each slow call in a row doubles the calls to hand over before the next
// try, up to 65536: a function that is always slow runs inline rarely,
// one that was slow for a while (its first calls, which loaded a VM, say)
// soon runs inline again.
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

// ran records that an inline call of name took d.
func (m slowFuncs) ran(name string, d time.Duration) {
	s := m[name]
	switch {
	case d <= inlineMax:
		if s != nil {
			delete(m, name)
		}
	case s == nil && len(m) >= maxSlowFuncs:
		// A peer calling ever new names that are slow (not found
		// remotely, say) can't grow the set: the others run inline.
	case s == nil && d < deadlineTick:
		m[name] = &slowness{after: 64} // once: the next call runs inline too
	case s == nil:
		m[name] = &slowness{skip: 64, after: 128}
	default:
		s.skip, s.after = s.after, min(2*s.after, 65536)
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
		// Encoded into a buffer of the server's, which queue copies
		// into the write buffer.
		buf := c.srv.bodies.get()
		defer c.srv.bodies.put(buf)
		var merr error
		body, merr = AppendMarshal(cl.codec, buf.b[:0], res)
		buf.b = body
		if merr == nil && len(body) > c.srv.cfg.Limits.MaxBodySize {
			merr = fmt.Errorf("%d bytes, limit %d", len(body), c.srv.cfg.Limits.MaxBodySize)
		}
		if merr != nil {
			code = CodeException
			body, _ = cl.codec.Marshal("cannot encode result: " + merr.Error())
		}
	case CodeException:
		body, _ = cl.codec.Marshal(err.Error())
	}
	p := Packet{Version: cl.version, TID: cl.tid, Type: TypeResponse, ContentType: cl.codec.ContentType(), Code: code, Body: body}
	switch {
	case code != CodeSuccess && code != CodeException:
		p = errorPacket(cl.version, cl.tid, code)
	case cl.version == V6:
		p.Extensions = cl.exts
	}
	mode := wakeWriter
	switch {
	case cl.more:
		mode = holdInline
	case c.running.Load() == 1:
		mode = writeHere
	}
	c.queue(&p, true, mode, cl)
}
