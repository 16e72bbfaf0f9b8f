package transport

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slacker-lua/slacker-lua/tracectx"
)

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
	deadline time.Time         // zero when none
	trace    *tracectx.Context // nil when none
	size     int32             // of the request's body: see RequestSize
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

func (c *callCtx) Value(k any) any {
	switch {
	case k == tracectx.Key{} && c.trace != nil:
		return *c.trace
	case k == tracectx.SampledKey{}:
		return c.trace != nil && c.trace.Sampled()
	case k == sizeKey{}:
		return int(c.size)
	}
	return nil
}

type sizeKey struct{}

// WithRequestSize returns ctx carrying n, the size in bytes of a call's
// serialized arguments, for its interceptors (see RequestSize). The
// server's calls carry theirs; a gateway adds it.
func WithRequestSize(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, sizeKey{}, n)
}

// RequestSize returns the size in bytes of the serialized arguments of
// the call of ctx, if it is known.
func RequestSize(ctx context.Context) (int, bool) {
	n, ok := ctx.Value(sizeKey{}).(int)
	return n, ok
}

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
// workers idle every workerIdle. It starts with a call (register) and
// ends with the connection, or when no call has come for workerIdle, the
// workers and the writer ended: an idle connection keeps no goroutine but
// its reader.
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
			c.watchIdles.Add(1)
			idle.Reset(workerIdle)
			select {
			case <-c.busy:
			case <-idle.C:
				c.endIdleWorkers()
				c.cmu.Lock()
				if len(c.calls) == 0 {
					// The next call's register starts another.
					c.watching = false
					c.cmu.Unlock()
					c.stopIdleWriter()
					return
				}
				c.cmu.Unlock()
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

// callTrace returns the trace context carried by a request's extensions,
// nil if none, or if it is not valid.
func callTrace(codec Codec, exts []Extension) *tracectx.Context {
	var tc tracectx.Context
	for _, e := range exts {
		var dst *string
		switch e.ID {
		case TraceParentExtension:
			dst = &tc.Parent
		case TraceStateExtension:
			dst = &tc.State
		default:
			continue
		}
		if len(e.Value) > tracectx.MaxState+16 {
			continue // longer than one kept, serialized
		}
		var v any
		if codec.Unmarshal(e.Value, &v) == nil {
			if s, ok := v.(string); ok {
				*dst = s
			}
		}
	}
	if !tc.Valid() {
		return nil
	}
	out := tc.Bounded() // on the heap only when there is one
	return &out
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
