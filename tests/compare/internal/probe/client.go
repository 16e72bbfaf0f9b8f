package probe

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"sync"
)

// Client calls a probe server over one connection, from any number of
// goroutines. One reader goroutine matches replies to calls by id; one
// writer goroutine writes all the requests queued since its last write at
// once. When the reader stops, every call in flight fails.
type Client struct {
	conn net.Conn
	out  *outbox

	mu      sync.Mutex
	pending map[uint32]*call
	nextID  uint32
	err     error // once set, the connection is done and calls fail with it

	calls     sync.Pool // of *call
	quit      chan struct{}
	wg        sync.WaitGroup // the reader and the writer
	closeOnce sync.Once
}

// call is a call in flight. The reader fills reply, or err, and then
// signals done.
type call struct {
	done  chan struct{} // capacity 1
	op    byte
	reply []byte
	err   error
	sum   [sumSize]byte // the reply of an add, without allocating
}

// Dial connects to the probe server at addr.
func Dial(ctx context.Context, addr string) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return NewClient(conn), nil
}

// NewClient makes a client of conn, which it owns from then on.
func NewClient(conn net.Conn) *Client {
	c := &Client{
		conn:    conn,
		out:     newOutbox(),
		pending: map[uint32]*call{},
		quit:    make(chan struct{}),
	}
	c.calls.New = func() any { return &call{done: make(chan struct{}, 1)} }
	c.wg.Go(c.readLoop)
	c.wg.Go(func() {
		if err := c.out.run(conn, c.quit); err != nil {
			c.fail(err)
		}
	})
	return c
}

// Close closes the connection, fails the calls in flight with ErrClosed,
// and waits for the client's goroutines. It can be called twice.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.fail(ErrClosed)
		close(c.quit)
	})
	c.wg.Wait()
	return nil
}

// fail ends the connection with err, the first error kept, and fails
// the calls in flight.
func (c *Client) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	err = c.err
	pending := c.pending
	c.pending = map[uint32]*call{}
	c.mu.Unlock()
	c.conn.Close()
	for _, cl := range pending {
		cl.err = err
		cl.done <- struct{}{}
	}
}

func (c *Client) readLoop() {
	r := bufio.NewReaderSize(c.conn, 64<<10)
	var (
		hdr  Header
		body []byte
		err  error
	)
	for {
		if body, err = ReadFrame(r, &hdr, body); err != nil {
			c.fail(fmt.Errorf("probe: reading replies: %w", err))
			return
		}
		c.mu.Lock()
		cl := c.pending[hdr.ID()]
		delete(c.pending, hdr.ID())
		c.mu.Unlock()
		if cl == nil {
			continue // its caller gave up
		}
		cl.op = hdr.Op()
		cl.reply = append(cl.reply, body...)
		cl.done <- struct{}{}
	}
}

// Add returns a + b, added by the server.
func (c *Client) Add(ctx context.Context, a, b int64) (int64, error) {
	cl := c.calls.Get().(*call)
	cl.reply = cl.sum[:0]
	reply, err := c.do(ctx, cl, func(dst []byte, id uint32) []byte { return AppendAdd(dst, id, a, b) })
	var sum int64
	if err == nil && len(reply) != sumSize {
		err = fmt.Errorf("%w: add answered %d bytes", ErrBadReply, len(reply))
	} else if err == nil {
		sum = int64(binary.BigEndian.Uint64(reply))
	}
	c.calls.Put(cl)
	return sum, err
}

// Echo sends s and appends the server's answer, s again, to dst.
func (c *Client) Echo(ctx context.Context, dst, s []byte) ([]byte, error) {
	cl := c.calls.Get().(*call)
	cl.reply = dst
	reply, err := c.do(ctx, cl, func(b []byte, id uint32) []byte { return AppendFrame(b, id, OpEcho, s) })
	c.calls.Put(cl)
	return reply, err
}

// do sends the request that appendReq appends and waits for its reply,
// which the reader appends to cl.reply. It returns cl's reply, and leaves
// cl free for another call.
func (c *Client) do(ctx context.Context, cl *call, appendReq func(dst []byte, id uint32) []byte) ([]byte, error) {
	cl.err = nil
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, err
	}
	c.nextID++
	id := c.nextID
	c.pending[id] = cl
	c.mu.Unlock()

	c.out.mu.Lock()
	c.out.buf = appendReq(c.out.buf, id)
	c.out.mu.Unlock()
	c.out.signal()

	select {
	case <-cl.done:
	case <-ctx.Done():
		c.mu.Lock()
		_, waiting := c.pending[id]
		delete(c.pending, id)
		c.mu.Unlock()
		if waiting {
			return nil, ctx.Err()
		}
		<-cl.done // the reader or fail has it: let it finish with cl
	}
	reply := cl.reply
	cl.reply = nil
	switch {
	case cl.err != nil:
		return nil, cl.err
	case cl.op == OpError:
		return nil, RemoteError(reply)
	case cl.op != OpOK:
		return nil, fmt.Errorf("%w: op %d", ErrBadReply, cl.op)
	}
	return reply, nil
}
