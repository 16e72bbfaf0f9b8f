package client

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slacker-lua/slacker-lua/transport"
)

// conn is one TCP connection to the server. Three goroutines run it:
//
//   - readLoop decodes packets and hands each reply to the pending call of
//     its tid. When it stops, the connection has failed: every pending call
//     fails at once.
//   - writeLoop writes the frames callers queued, all that queued up since
//     its last write in one system call, and sends keepalive pings. The
//     only call pending writes its own frame when the writer is idle,
//     which saves waking it.
//   - expireLoop abandons the calls past their timeouts, checking every
//     expireTick while calls are pending: one timer for all of them, not
//     one per call.
//
// A conn is used once: after fail it is dead, and the Client dials a new one.
type conn struct {
	c           *Client
	nc          net.Conn
	connectedAt time.Time

	// heard is set by the reader for every packet and cleared by the
	// keepalive check.
	heard atomic.Bool
	// refused is set by the reader when the server refuses the token.
	refused atomic.Bool
	// dead is closed by fail.
	dead chan struct{}
	// wake tells the writer that wbuf went from empty to not empty.
	wake chan struct{}
	// busy tells an idle expireLoop that a call is pending.
	busy chan struct{}
	// wmu is held by the writer from taking wbuf until flushed says what
	// it wrote, so that fail can wait for the count.
	wmu       sync.Mutex
	wdeadline time.Time // the write deadline set; the writer's

	mu      sync.Mutex
	err     error              // why the connection ended; nil while it works
	pending map[int32]*Pending // calls waiting for a reply, by tid
	wbuf    []byte             // frames queued for the writer
	// queued counts the bytes ever queued, and flushed those that may
	// have reached the socket: all that the writer took, until a failed
	// write says how many it wrote. A call whose frame ends past flushed
	// was not sent.
	queued, flushed int64
}

// directMax is the most bytes a caller writes itself: see register.
const directMax = 16 << 10

// maxKeptBuffer is the largest write buffer the writer keeps for reuse; a
// bigger one, left by a large request, goes to the garbage collector.
const maxKeptBuffer = 1 << 20

func newConn(c *Client, nc net.Conn) *conn {
	cn := &conn{
		c:           c,
		nc:          nc,
		connectedAt: time.Now(),
		dead:        make(chan struct{}),
		wake:        make(chan struct{}, 1),
		busy:        make(chan struct{}, 1),
		pending:     make(map[int32]*Pending),
	}
	if c.cfg.Version == transport.V6 {
		// slacker's clients say hello first, with tid 0; the server's
		// answer is drained by the reader. The frame can't fail to encode:
		// Config.validate bounds ClientName.
		cn.wbuf, _ = transport.AppendPacket(nil, &transport.Packet{
			Version:       transport.V6,
			Type:          transport.TypeClientHello,
			ClientVersion: clientVersion,
			ClientName:    c.cfg.ClientName,
		})
	}
	if c.cfg.Token != "" {
		// Before any call, so that the server reads it first. The frame
		// can't fail to encode: Config.validate bounds Token.
		cn.wbuf, _ = transport.AppendPacket(cn.wbuf, &transport.Packet{
			Version: c.cfg.Version,
			Type:    transport.TypeAuthReq,
			Token:   c.cfg.Token,
		})
	}
	if len(cn.wbuf) > 0 {
		cn.queued = int64(len(cn.wbuf))
		cn.wake <- struct{}{}
	}
	return cn
}

// start runs the connection's goroutines, counted in the client's WaitGroup.
func (cn *conn) start() {
	cn.c.wg.Add(3)
	go cn.readLoop()
	go cn.writeLoop()
	go cn.expireLoop()
}

// expireTick is how often pending calls are checked against their
// timeouts: a call is abandoned at most this long after its timeout.
const expireTick = 5 * time.Millisecond

// expireLoop abandons the calls past their timeouts until the connection
// fails, checking every expireTick while calls are pending.
func (cn *conn) expireLoop() {
	defer cn.c.wg.Done()
	tick := time.NewTicker(expireTick)
	defer tick.Stop()
	// The calls expired, with their tids and names as they were pending:
	// a call answered meanwhile may be reused (callDirect) by the time
	// they are abandoned, and abandon leaves it alone by its tid.
	type expiry struct {
		p    *Pending
		tid  int32
		name string
	}
	var expired []expiry
	for {
		select {
		case <-tick.C:
		case <-cn.dead:
			return
		}
		now := time.Now()
		cn.mu.Lock()
		idle := len(cn.pending) == 0
		for tid, p := range cn.pending {
			if !p.timeout.IsZero() && !now.Before(p.timeout) {
				expired = append(expired, expiry{p, tid, p.name})
			}
		}
		cn.mu.Unlock()
		for i, e := range expired {
			cn.abandon(e.p, e.tid, timeoutError(e.name, cn.c.cfg.Timeout))
			expired[i] = expiry{}
		}
		expired = expired[:0]
		if idle {
			tick.Stop() // no ticks until a call is pending
			select {
			case <-cn.busy:
			case <-cn.dead:
				return
			}
			tick.Reset(expireTick)
		}
	}
}

// register gives p a tid, records it as pending and queues pkt, its
// request, under that tid. It fails without sending when the connection
// is dead or MaxPending calls are pending.
func (cn *conn) register(p *Pending, pkt *transport.Packet) error {
	cn.mu.Lock()
	if cn.err != nil {
		err := cn.err
		cn.mu.Unlock()
		return cn.c.unusable(err)
	}
	if len(cn.pending) >= cn.c.cfg.MaxPending {
		cn.mu.Unlock()
		return fmt.Errorf("%w (%d)", ErrTooManyPending, cn.c.cfg.MaxPending)
	}
	tid := cn.c.nextTID()
	for cn.pending[tid] != nil {
		tid = cn.c.nextTID() // after 2^32 calls, one is still waiting
	}
	pkt.TID = tid
	wake, err := cn.queueLocked(pkt)
	if err != nil {
		cn.mu.Unlock()
		return fmt.Errorf("client: %s: %w", p.name, err)
	}
	p.tid, p.cn, p.end = tid, cn, cn.queued
	first := len(cn.pending) == 0
	small := len(cn.wbuf) <= directMax
	cn.pending[tid] = p
	cn.mu.Unlock()
	if first {
		select {
		case cn.busy <- struct{}{}:
		default:
		}
	}
	if wake && first && small && cn.wmu.TryLock() {
		// The only call pending, a small frame, with the writer idle:
		// writing it from here saves waking the writer. A large frame
		// is the writer's, so that the caller is not held in a write
		// longer than its ctx allows.
		buf, err := cn.flushLocked(nil, 2*cn.c.cfg.PingInterval)
		cn.wmu.Unlock()
		if err != nil {
			cn.fail(lost(err))
			return nil
		}
		cn.mu.Lock()
		if cn.wbuf == nil && cn.err == nil && cap(buf) <= maxKeptBuffer {
			cn.wbuf = buf[:0] // nothing queued meanwhile: keep the buffer
		}
		cn.mu.Unlock()
		return nil
	}
	if wake {
		cn.signal()
	}
	return nil
}

// queueLocked appends pkt to the write buffer; cn.mu is held. It reports
// whether the buffer was empty, in which case the caller signals the
// writer once it has released the lock.
func (cn *conn) queueLocked(pkt *transport.Packet) (wake bool, err error) {
	n := len(cn.wbuf)
	b, err := transport.AppendPacket(cn.wbuf, pkt)
	if err != nil {
		return false, err
	}
	cn.wbuf = b
	cn.queued += int64(len(b) - n)
	return n == 0, nil
}

// signal wakes the writer. The channel holds one token: a writer that has
// not yet taken the last one will see this frame too.
func (cn *conn) signal() {
	select {
	case cn.wake <- struct{}{}:
	default:
	}
}

// abandon fails p with err if it is still pending under tid, and for a
// call tells the server to stop it with an interrupt packet, which
// slacker's clients send with tid 0. A p already answered is left alone.
func (cn *conn) abandon(p *Pending, tid int32, err error) {
	cn.mu.Lock()
	if cn.pending[tid] != p {
		cn.mu.Unlock()
		return
	}
	delete(cn.pending, tid)
	var wake bool
	if p.want == transport.TypeResponse {
		wake, _ = cn.queueLocked(&transport.Packet{
			Version:   cn.c.cfg.Version,
			Type:      transport.TypeInterrupt,
			TargetTID: p.tid,
		})
	}
	cn.mu.Unlock()
	if wake {
		cn.signal()
	}
	p.finish(Result{}, err)
}

// fail ends the connection with err, the first error only: it closes the
// socket, which stops the reader and writer, and fails every pending call
// with err, and with ErrNotSent too for the calls whose request was not
// written in full.
func (cn *conn) fail(err error) {
	cn.mu.Lock()
	if cn.err != nil {
		cn.mu.Unlock()
		return
	}
	cn.err = err
	pending := cn.pending
	cn.pending = nil
	cn.wbuf = nil
	cn.mu.Unlock()

	close(cn.dead)
	cn.nc.Close() // ends a write in progress, which then counts what it wrote
	cn.wmu.Lock()
	cn.mu.Lock()
	flushed := cn.flushed
	cn.mu.Unlock()
	cn.wmu.Unlock()
	unsent := fmt.Errorf("%w: %w", ErrNotSent, err)
	for _, p := range pending {
		if p.end > flushed {
			p.finish(Result{}, unsent)
		} else {
			p.finish(Result{}, err)
		}
	}
}

// cause returns why the connection ended, nil while it works.
func (cn *conn) cause() error {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return cn.err
}

// lost is the error of calls pending on a connection that broke.
func lost(cause error) error {
	return fmt.Errorf("%w: %w", ErrConnLost, cause)
}

// readLoop reads packets until the connection fails.
func (cn *conn) readLoop() {
	defer cn.c.wg.Done()
	dec := transport.NewDecoder(cn.nc, cn.c.cfg.Limits)
	// The extensions the server echoes are not kept, and a short body is
	// copied (reply): those bytes can be the decoder's own.
	dec.ReuseBuffers(true)
	var p transport.Packet
	decoded := false
	for {
		if err := dec.Decode(&p); err != nil {
			if !decoded {
				err = cn.c.firstReadFailed(err)
			}
			cn.fail(lost(err))
			return
		}
		decoded = true
		if !cn.heard.Load() {
			cn.heard.Store(true)
		}
		cn.dispatch(&p)
	}
}

// dispatch delivers one packet from the server. A short body is the
// decoder's, overwritten by the next packet: reply copies what it hands
// over.
func (cn *conn) dispatch(p *transport.Packet) {
	log := cn.c.cfg.Logger
	switch p.Type {
	case transport.TypeResponse, transport.TypeError, transport.TypeInspectAck:
	case transport.TypePong:
		if p.TID == 0 {
			return // a keepalive ping's
		}
	case transport.TypeServerHello:
		log.Debug("server hello", "addr", cn.c.addr, "version", p.ServerVersion)
		return
	case transport.TypeAuthAck:
		if p.AuthResult != transport.AuthOK {
			cn.refused.Store(true)
			log.Warn("the server refused the token: its calls will be refused", "addr", cn.c.addr)
		}
		return
	default:
		log.Debug("unexpected packet from the server", "addr", cn.c.addr, "type", p.Type, "tid", p.TID)
		return
	}

	cn.mu.Lock()
	pd := cn.pending[p.TID]
	if pd != nil {
		delete(cn.pending, p.TID)
	}
	cn.mu.Unlock()
	if pd == nil {
		if p.Type == transport.TypeError && p.TID == 0 {
			log.Warn("server error", "addr", cn.c.addr, "code", p.Code)
		} else {
			// Most likely the answer of a call abandoned by its caller.
			log.Debug("reply to no pending call", "addr", cn.c.addr, "type", p.Type, "tid", p.TID)
		}
		return
	}
	pd.finish(cn.c.reply(pd, p))
}

// writeLoop writes queued frames until the connection fails. Once per
// PingInterval it checks that the server has sent something: when it has
// not, it pings; when nothing came for two intervals after a ping, it
// fails the connection.
func (cn *conn) writeLoop() {
	defer cn.c.wg.Done()
	interval := cn.c.cfg.PingInterval
	tick := time.NewTicker(interval)
	defer tick.Stop()
	ping := transport.Packet{Version: cn.c.cfg.Version, Type: transport.TypePing}
	var spare []byte
	silent := 0 // intervals in a row in which nothing arrived
	for {
		select {
		case <-cn.wake:
		case <-tick.C:
			if cn.heard.Swap(false) {
				silent = 0
				continue
			}
			silent++
			if silent > 2 {
				cn.fail(lost(errKeepalive))
				return
			}
			cn.mu.Lock()
			if cn.err == nil {
				cn.queueLocked(&ping)
			}
			cn.mu.Unlock()
		case <-cn.dead:
			return
		}

		// Let the other callers queue their frames too, so they leave in
		// this write rather than one write each; with one call pending,
		// there may be none.
		cn.mu.Lock()
		others := len(cn.pending) > 1
		cn.mu.Unlock()
		if others {
			runtime.Gosched()
		}
		buf, err := cn.flush(spare[:0], 2*interval)
		if err != nil {
			cn.fail(lost(err))
			return
		}
		if cap(buf) > maxKeptBuffer {
			buf = nil
		}
		spare = buf
	}
}

// flush writes the frames queued, putting spare in their place, and
// returns their buffer. A write that takes longer than timeout fails: a
// server that reads nothing for as long as keepalive allows is as good as
// gone.
func (cn *conn) flush(spare []byte, timeout time.Duration) ([]byte, error) {
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	return cn.flushLocked(spare, timeout)
}

// flushLocked is flush with cn.wmu held.
func (cn *conn) flushLocked(spare []byte, timeout time.Duration) ([]byte, error) {
	cn.mu.Lock()
	buf, start := cn.wbuf, cn.flushed
	if cn.err == nil {
		cn.wbuf = spare
		cn.flushed = cn.queued
	}
	cn.mu.Unlock()
	if len(buf) == 0 {
		return buf, nil
	}
	// Each write gets between 3/4 of timeout and all of it: moving the
	// deadline costs a timer update, not made for every write.
	if now := time.Now(); cn.wdeadline.Sub(now) < timeout*3/4 {
		cn.wdeadline = now.Add(timeout)
		cn.nc.SetWriteDeadline(cn.wdeadline)
	}
	n, err := cn.nc.Write(buf)
	if err != nil {
		cn.mu.Lock()
		cn.flushed = start + int64(n)
		cn.mu.Unlock()
	}
	return buf, err
}

// reply turns the packet answering pd into pd's result.
func (c *Client) reply(pd *Pending, p *transport.Packet) (Result, error) {
	if p.Type == transport.TypeError {
		if p.Code == transport.CodeSuccess {
			return Result{}, fmt.Errorf("%w: error packet with code success for %s", ErrUnexpectedReply, pd.name)
		}
		return Result{}, pd.remoteError(&RemoteError{Code: p.Code, Name: pd.name, Message: pd.cn.why(pd, p.Code)})
	}
	if p.Type != pd.want {
		return Result{}, fmt.Errorf("%w: %v answering %s", ErrUnexpectedReply, p.Type, pd.name)
	}
	if p.Type != transport.TypeResponse {
		return Result{body: p.Body}, nil // inspect-ack, pong
	}
	codec := c.codec
	if p.ContentType != codec.ContentType() {
		var err error
		if codec, err = transport.CodecFor(c.cfg.Codecs, p.ContentType); err != nil {
			return Result{}, fmt.Errorf("client: result of %s: %w", pd.name, err)
		}
	}
	switch p.Code {
	case transport.CodeSuccess:
		body := p.Body
		if len(body) <= transport.MaxReusedBody {
			body = bytes.Clone(body) // the decoder's own, see readLoop
		}
		return Result{body: body, codec: codec}, nil
	case transport.CodeException:
		return Result{}, &RemoteError{Code: transport.CodeException, Name: pd.name, Message: exceptionMessage(codec, p.Body)}
	}
	return Result{}, pd.remoteError(&RemoteError{Code: p.Code, Name: pd.name, Message: pd.cn.why(pd, p.Code)})
}

// largeBody is the size from which a request answered invalid-packet is
// taken to be over the server's limit (see why).
const largeBody = 64 << 10

// why says what the client knows of why the server answered pd with code,
// "" if nothing. The error packet carries a code alone (see PROTOCOL.md):
//   - acl-reject: the server refused the token, or the client has none;
//   - invalid-packet answering a request of largeBody bytes or more:
//     this client's bodies always decode, so the body was over the
//     server's limit.
func (cn *conn) why(pd *Pending, code transport.Code) string {
	switch code {
	case transport.CodeACLReject:
		switch {
		case cn.refused.Load():
			return "the server refused this client's token: check it against the server's tokens (Config.Token; the CLI's --token-file)"
		case cn.c.cfg.Token == "":
			return "the server wants a token, and this client has none (Config.Token; the CLI's --token-file)"
		}
		return "the server's access rules refuse the call"
	case transport.CodeInvalidPacket:
		if pd.want == transport.TypeResponse && pd.size >= largeBody {
			return fmt.Sprintf("request body larger than the server accepts (%d bytes; see its --max-body)", pd.size)
		}
	}
	return ""
}

// remoteError is the error of a call the server answered with re. A
// "canceled" answer that comes once the deadline sent with the call has
// passed is that deadline expiring: the error then matches
// context.DeadlineExceeded as well as ErrCanceled, as it would had the
// client's own timeout come first.
func (pd *Pending) remoteError(re *RemoteError) error {
	if re.Code == transport.CodeCanceled && !pd.deadline.IsZero() && !time.Now().Before(pd.deadline) {
		return &deadlineError{re}
	}
	return re
}

// deadlineError is a "canceled" answer past the call's deadline: it
// matches context.DeadlineExceeded and the answer.
type deadlineError struct{ re *RemoteError }

func (e *deadlineError) Error() string {
	return "client: " + e.re.Name + ": " + context.DeadlineExceeded.Error() + " (the server canceled the call at its deadline)"
}
func (e *deadlineError) Unwrap() []error { return []error{context.DeadlineExceeded, e.re} }

// exceptionMessage is the text of an exception's body: the string it
// encodes, or the "msg" of slacker's debug-mode {:msg :stacktrace} map, or
// else the body itself.
func exceptionMessage(codec transport.Codec, body []byte) string {
	var v any
	if err := codec.Unmarshal(body, &v); err == nil {
		switch v := v.(type) {
		case string:
			return v
		case map[string]any:
			if s, ok := v["msg"].(string); ok {
				return s
			}
		}
	}
	return string(body)
}
