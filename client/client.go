package client

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slacker-lua/slacker-lua/tracectx"
	"github.com/slacker-lua/slacker-lua/transport"
)

// Client calls the functions of one server over one connection, which it
// re-establishes in the background when it breaks. It is safe for
// concurrent use; calls are multiplexed on the connection and answered in
// any order.
type Client struct {
	addr      string
	cfg       Config // with defaults
	codec     transport.Codec
	emptyArgs []byte    // the codec's empty array: the body of a call without arguments
	call      CallFunc  // callDirect through Config.Interceptors
	bodies    sync.Pool // of *[]byte: arguments are encoded in these
	pendings  sync.Pool // of *Pending, see getPending

	tid atomic.Uint32
	cur atomic.Pointer[conn] // nil while disconnected

	mu      sync.Mutex
	closed  bool
	lastErr error // why the client is not connected

	// ctx is cancelled by Close: it stops the reconnect loop and aborts
	// its dials.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the reconnect loop and every conn's reader and writer
}

// Dial connects to the slacker server at addr ("host:port") and returns a
// client for it. It fails if cfg is invalid or the first connection can't
// be made within ctx and cfg.DialTimeout; once it has succeeded, lost
// connections are re-established in the background until Close. In
// version 6, Dial sends a client-hello but does not wait for the server's
// answer.
func Dial(ctx context.Context, addr string, cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	cfg.Interceptors = slices.Clone(cfg.Interceptors)
	codec, err := transport.CodecFor(cfg.Codecs, cfg.ContentType)
	if err != nil {
		return nil, fmt.Errorf("client: ContentType: %w", err)
	}
	empty, err := codec.Marshal([]any{})
	if err != nil {
		return nil, fmt.Errorf("client: codec %v: %w", cfg.ContentType, err)
	}
	c := &Client{addr: addr, cfg: cfg, codec: codec, emptyArgs: empty}
	c.call = Chain(c.callDirect, cfg.Interceptors)
	cn, err := c.connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.cur.Store(cn)
	cn.start()
	c.wg.Add(1)
	go c.superviseLoop(cn)
	return c, nil
}

// Addr returns the address the client was dialed with.
func (c *Client) Addr() string { return c.addr }

// Call calls the function name ("namespace/function") with args, which are
// serialized as an array in the configured content type, and waits for its
// result.
//
// The call's deadline is ctx's, or Config.Timeout from now if ctx has none;
// in version 6 it is sent to the server with the call. When ctx is done or
// the timeout passes before the answer, Call sends the server an interrupt
// for the call and returns an error wrapping ctx.Err() (or
// context.DeadlineExceeded for the timeout). The server may give up at the
// same moment and answer "canceled": once the sent deadline has passed,
// that answer too is an error matching context.DeadlineExceeded (as well
// as ErrCanceled), so callers have one thing to check for "out of time".
//
// Errors: a *RemoteError when the server refused or failed the call,
// matching ErrNotFound, ErrException (its Message is the function's error),
// ErrCanceled and the other code sentinels with errors.Is; ErrConnLost
// when the connection broke while the call waited (it may or may not have
// run, unless the error matches ErrNotSent too); ErrNotConnected,
// ErrTooManyPending or ErrClosed, returned at once, when the call was not
// sent. Call never retries.
func (c *Client) Call(ctx context.Context, name string, args ...any) (Result, error) {
	return c.call(ctx, name, args)
}

// callDirect is Call without the interceptors.
func (c *Client) callDirect(ctx context.Context, name string, args []any) (Result, error) {
	p := c.getPending(name)
	defer c.putPending(p)
	if err := c.send(ctx, p, args); err != nil {
		return Result{}, err
	}
	return c.wait(ctx, p)
}

// getPending returns a pending call of name whose end is signalled on its
// done channel, pooled with it. Once wait has returned (the one send of
// finish received) or the call was never registered, nobody uses it but
// the caller: the conn removed it from its table before finishing it, and
// expireLoop abandons by tid, so putPending can give it to the next call.
func (c *Client) getPending(name string) *Pending {
	p, ok := c.pendings.Get().(*Pending)
	if !ok {
		p = &Pending{done: make(chan struct{}, 1)}
	}
	*p = Pending{name: name, want: transport.TypeResponse, done: p.done, signal: true}
	return p
}

func (c *Client) putPending(p *Pending) {
	*p = Pending{done: p.done} // hold on to no result
	c.pendings.Put(p)
}

// Go starts a call as Call does and returns at once. The call ends, and
// Pending.Done is closed, when the answer arrives, ctx is done, the
// timeout passes (sending the server an interrupt, as Call does), the
// connection is lost or the client is closed. A call that can't be sent is
// returned already done, with its error.
func (c *Client) Go(ctx context.Context, name string, args ...any) *Pending {
	p := &Pending{name: name, want: transport.TypeResponse, done: make(chan struct{}), async: true}
	if err := c.send(ctx, p, args); err != nil {
		p.finish(Result{}, err)
		return p
	}
	p.arm(ctx)
	return p
}

// Pending is a call started by Go.
type Pending struct {
	name     string
	want     transport.PacketType // the reply's type: response, inspect-ack or pong
	size     int                  // the request's body, in bytes
	deadline time.Time            // the deadline sent with the call, if one was
	timeout  time.Time            // when its conn abandons it, for a ctx without deadline
	done     chan struct{}        // closed by finish, or sent on once with signal
	signal   bool                 // done is pooled: finish sends, wait receives

	// Set by register.
	tid int32
	cn  *conn
	end int64 // where its request ends in the bytes queued on cn

	// Set by finish, before done is closed.
	res Result
	err error

	// For calls started by Go: what abandons the call when ctx is done.
	async    bool
	mu       sync.Mutex
	finished bool
	stopCtx  func() bool
}

// Done returns a channel closed when the call has ended.
func (p *Pending) Done() <-chan struct{} { return p.done }

// Result waits for the call to end and returns its result or error, as
// Call would have.
func (p *Pending) Result() (Result, error) {
	<-p.done
	return p.res, p.err
}

// finish ends the call. Only the one that removed p from its conn's pending
// table, or never put it there, calls it.
func (p *Pending) finish(res Result, err error) {
	p.res, p.err = res, err
	if p.async {
		p.mu.Lock()
		p.finished = true
		stop := p.stopCtx
		p.mu.Unlock()
		if stop != nil {
			stop()
		}
	}
	if p.signal {
		p.done <- struct{}{} // buffered: wait takes it
		return
	}
	close(p.done)
}

// arm makes a call started by Go end when ctx is done. It takes no
// goroutine until ctx is done. (Its conn ends it at its timeout.)
func (p *Pending) arm(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished {
		return
	}
	if ctx.Done() != nil {
		p.stopCtx = context.AfterFunc(ctx, func() { p.cn.abandon(p, p.tid, ctxError(p.name, ctx)) })
	}
}

// expireAfter gives p a timeout, when ctx has no deadline: its conn
// abandons it then, with a timeout error.
func (p *Pending) expireAfter(ctx context.Context, timeout time.Duration) {
	if _, ok := ctx.Deadline(); !ok {
		p.timeout = time.Now().Add(timeout)
	}
}

// send serializes a call and registers it on the current connection.
func (c *Client) send(ctx context.Context, p *Pending, args []any) error {
	if ctx.Err() != nil {
		return ctxError(p.name, ctx)
	}
	cn, err := c.conn()
	if err != nil {
		return err
	}
	body := c.emptyArgs
	if len(args) > 0 {
		// Encoded into a buffer of the client's, which register
		// copies into the write buffer.
		buf := c.getBody()
		defer c.putBody(buf)
		if *buf, err = transport.AppendArgs(c.codec, (*buf)[:0], args); err != nil {
			return fmt.Errorf("client: %s: encoding the arguments: %w", p.name, err)
		}
		body = *buf
	}
	p.size = len(body)
	pkt := transport.Packet{
		Version:     c.cfg.Version,
		Type:        transport.TypeRequest,
		ContentType: c.codec.ContentType(),
		Name:        p.name,
		Body:        body,
	}
	var ext [3]transport.Extension
	var num [16]byte
	if c.cfg.Version == transport.V6 {
		deadline, ok := ctx.Deadline()
		if !ok {
			deadline = time.Now().Add(c.cfg.Timeout)
			p.timeout = deadline // what expireAfter would set
		}
		ms := deadline.UnixMilli()
		v, err := c.encodeDeadline(num[:0], ms)
		if err != nil {
			return fmt.Errorf("client: %s: encoding the deadline: %w", p.name, err)
		}
		ext[0] = transport.Extension{ID: transport.DeadlineExtension, Value: v}
		pkt.Extensions = ext[:1]
		p.deadline = time.UnixMilli(ms)
		if tc := tracectx.From(ctx); tc.Valid() {
			if pkt.Extensions, err = c.appendTrace(pkt.Extensions, tc.Bounded()); err != nil {
				return fmt.Errorf("client: %s: encoding the trace context: %w", p.name, err)
			}
		}
	} else {
		p.expireAfter(ctx, c.cfg.Timeout)
	}
	return cn.register(p, &pkt)
}

// appendTrace appends to exts the extensions of the trace context tc:
// its traceparent, and its tracestate if any.
func (c *Client) appendTrace(exts []transport.Extension, tc tracectx.Context) ([]transport.Extension, error) {
	v, err := c.codec.Marshal(tc.Parent)
	if err != nil {
		return exts, err
	}
	exts = append(exts, transport.Extension{ID: transport.TraceParentExtension, Value: v})
	if tc.State != "" {
		if v, err = c.codec.Marshal(tc.State); err != nil {
			return exts, err
		}
		exts = append(exts, transport.Extension{ID: transport.TraceStateExtension, Value: v})
	}
	return exts, nil
}

// maxKeptBody bounds the argument buffers the client keeps for reuse: a
// huge call's is left to the garbage collector.
const maxKeptBody = 64 << 10

func (c *Client) getBody() *[]byte {
	if b, ok := c.bodies.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 256)
	return &b
}

func (c *Client) putBody(b *[]byte) {
	if cap(*b) <= maxKeptBody {
		*b = (*b)[:0]
		c.bodies.Put(b)
	}
}

// encodeDeadline appends the deadline extension's value, Unix milliseconds
// serialized in the call's content type. JSON and msgpack are written
// directly, to spare an allocation per call.
func (c *Client) encodeDeadline(dst []byte, ms int64) ([]byte, error) {
	switch c.codec.ContentType() {
	case transport.ContentJSON:
		return strconv.AppendInt(dst, ms, 10), nil
	case transport.ContentMsgpack:
		return binary.BigEndian.AppendUint64(append(dst, msgpackInt64), uint64(ms)), nil
	}
	return c.codec.Marshal(ms)
}

// msgpackInt64 is the msgpack format byte of a big-endian int64.
const msgpackInt64 = 0xd3

// wait waits for p's reply. When ctx is done it abandons p; its conn
// abandons it at its timeout, for a ctx without deadline.
func (c *Client) wait(ctx context.Context, p *Pending) (Result, error) {
	select {
	case <-p.done:
		return p.res, p.err
	case <-ctx.Done():
		p.cn.abandon(p, p.tid, ctxError(p.name, ctx))
	}
	// Abandoned, or answered just before: either way p is finished or
	// about to be.
	<-p.done
	return p.res, p.err
}

func ctxError(name string, ctx context.Context) error {
	err := ctx.Err()
	if cause := context.Cause(ctx); cause != err {
		return fmt.Errorf("client: %s: %w (%w)", name, err, cause)
	}
	return fmt.Errorf("client: %s: %w", name, err)
}

func timeoutError(name string, timeout time.Duration) error {
	return fmt.Errorf("client: %s: no answer within %v: %w", name, timeout, context.DeadlineExceeded)
}

// nextTID returns a new transaction id, never 0: slacker's clients use 0
// for hellos, keepalive pings and interrupts.
func (c *Client) nextTID() int32 {
	for {
		if t := int32(c.tid.Add(1)); t != 0 {
			return t
		}
	}
}

// conn returns the current connection, or why there is none.
func (c *Client) conn() (*conn, error) {
	if cn := c.cur.Load(); cn != nil {
		return cn, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	return nil, notConnected(c.lastErr)
}

// unusable is the error of a call made on a connection that ended with err.
func (c *Client) unusable(err error) error {
	if errors.Is(err, ErrClosed) {
		return ErrClosed
	}
	return notConnected(err)
}

func notConnected(cause error) error {
	if cause == nil {
		return ErrNotConnected
	}
	return fmt.Errorf("%w (%v)", ErrNotConnected, cause)
}

// Ping sends a ping and waits for the server's pong, returning the round
// trip time. It fails as Call does.
func (c *Client) Ping(ctx context.Context) (time.Duration, error) {
	p := &Pending{name: "ping", want: transport.TypePong, done: make(chan struct{})}
	start := time.Now()
	if _, err := c.roundTrip(ctx, p, &transport.Packet{Type: transport.TypePing}); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// Functions returns the names ("namespace/function") of the functions the
// server serves whose name starts with prefix, all of them for "", sorted.
// A server answers with at most 64 KiB of names: ask again with a longer
// prefix for the rest.
func (c *Client) Functions(ctx context.Context, prefix string) ([]string, error) {
	v, err := c.inspect(ctx, transport.InspectFunctions, prefix)
	if err != nil {
		return nil, err
	}
	var items []any
	switch v := v.(type) {
	case nil:
	case []any:
		items = v
	case transport.List:
		items = v
	default:
		return nil, fmt.Errorf("client: functions: %w: the answer is a %T", transport.ErrInvalidEDN, v)
	}
	names := make([]string, 0, len(items))
	for _, it := range items {
		switch it := it.(type) {
		case string:
			names = append(names, it)
		case transport.Symbol:
			names = append(names, string(it))
		default:
			return nil, fmt.Errorf("client: functions: %w: a name is a %T", transport.ErrInvalidEDN, it)
		}
	}
	slices.Sort(names)
	return names, nil
}

// Meta describes the function name ("namespace/function"): its doc and
// parameter names, a variadic function's last being "...". The returned
// Name is name. A function the server doesn't serve is an error matching
// ErrNotFound.
func (c *Client) Meta(ctx context.Context, name string) (transport.FuncMeta, error) {
	v, err := c.inspect(ctx, transport.InspectMeta, name)
	if err != nil {
		return transport.FuncMeta{}, err
	}
	m, err := transport.ParseMetaEDN(v)
	if err != nil {
		return transport.FuncMeta{}, fmt.Errorf("client: meta of %s: %w", name, err)
	}
	m.Name = name
	return m, nil
}

// inspect sends an inspect request with the EDN string arg and returns
// the parsed answer.
func (c *Client) inspect(ctx context.Context, cmd transport.InspectCommand, arg string) (any, error) {
	body, err := transport.AppendEDN(nil, arg)
	if err != nil {
		return nil, fmt.Errorf("client: inspect: %w", err)
	}
	p := &Pending{name: "inspect", want: transport.TypeInspectAck, done: make(chan struct{})}
	res, err := c.roundTrip(ctx, p, &transport.Packet{Type: transport.TypeInspectReq, Command: cmd, Body: body})
	if err != nil {
		return nil, err
	}
	v, err := transport.ParseEDN(res.body)
	if err != nil {
		return nil, fmt.Errorf("client: inspect answer: %w", err)
	}
	return v, nil
}

// roundTrip sends pkt, which is not a call, and waits for its reply.
func (c *Client) roundTrip(ctx context.Context, p *Pending, pkt *transport.Packet) (Result, error) {
	if ctx.Err() != nil {
		return Result{}, ctxError(p.name, ctx)
	}
	cn, err := c.conn()
	if err != nil {
		return Result{}, err
	}
	pkt.Version = c.cfg.Version
	p.expireAfter(ctx, c.cfg.Timeout)
	if err := cn.register(p, pkt); err != nil {
		return Result{}, err
	}
	return c.wait(ctx, p)
}

// Close closes the connection and stops reconnecting. Calls waiting for
// their answer fail with ErrClosed, and so do calls made after. Close
// waits for the client's goroutines to end. It can be called more than
// once; it always returns nil.
func (c *Client) Close() error {
	c.mu.Lock()
	first := !c.closed
	c.closed = true
	c.mu.Unlock()
	if first {
		c.cancel()
		if cn := c.cur.Swap(nil); cn != nil {
			cn.fail(ErrClosed)
		}
	}
	c.wg.Wait()
	return nil
}

// connect dials the server and prepares a connection, not yet started.
func (c *Client) connect(ctx context.Context) (*conn, error) {
	d := net.Dialer{Timeout: c.cfg.DialTimeout}
	var nc net.Conn
	var err error
	if c.cfg.TLS != nil {
		td := tls.Dialer{NetDialer: &d, Config: c.cfg.TLS}
		nc, err = td.DialContext(ctx, "tcp", c.addr)
	} else {
		nc, err = d.DialContext(ctx, "tcp", c.addr)
	}
	if err != nil {
		return nil, err
	}
	return newConn(c, nc), nil
}

// superviseLoop waits for the current connection to fail and dials a new
// one, with jittered exponential backoff, until Close.
func (c *Client) superviseLoop(cn *conn) {
	defer c.wg.Done()
	delay := c.cfg.Reconnect.Min
	for {
		select {
		case <-cn.dead:
		case <-c.ctx.Done():
			return
		}
		err := cn.cause()
		c.mu.Lock()
		c.cur.CompareAndSwap(cn, nil)
		c.lastErr = err
		closed := c.closed
		c.mu.Unlock()
		if closed {
			return
		}
		c.cfg.Logger.Warn("connection lost; reconnecting", "addr", c.addr, "err", err)
		// A connection that lived long resets the backoff; one that
		// broke soon after it was made (a server accepting and dropping
		// connections) does not.
		if time.Since(cn.connectedAt) >= c.cfg.Reconnect.Max {
			delay = c.cfg.Reconnect.Min
		}
		if cn, delay = c.reconnect(delay); cn == nil {
			return
		}
	}
}

// reconnect dials until it succeeds or the client is closed, returning the
// started connection (nil when closed) and the next backoff delay.
func (c *Client) reconnect(delay time.Duration) (*conn, time.Duration) {
	t := time.NewTimer(0)
	defer t.Stop()
	<-t.C
	for attempt := 1; ; attempt++ {
		t.Reset(jitter(delay))
		select {
		case <-t.C:
		case <-c.ctx.Done():
			return nil, delay
		}
		delay = min(2*delay, c.cfg.Reconnect.Max)
		cn, err := c.connect(c.ctx)
		if err != nil {
			c.mu.Lock()
			c.lastErr = err
			c.mu.Unlock()
			c.cfg.Logger.Debug("reconnect failed", "addr", c.addr, "attempt", attempt, "err", err)
			continue
		}
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			cn.nc.Close()
			return nil, delay
		}
		c.lastErr = nil
		c.cur.Store(cn)
		cn.start() // under mu, so that Close's Wait comes after its Add
		c.mu.Unlock()
		c.cfg.Logger.Info("reconnected", "addr", c.addr, "attempts", attempt)
		return cn, delay
	}
}

// jitter returns a random duration between d/2 and d.
func jitter(d time.Duration) time.Duration {
	half := d / 2
	return half + rand.N(d-half+1)
}
