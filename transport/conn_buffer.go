package transport

import (
	"io"
	"sync"
	"syscall"
)

// readBuffer buffers what the reader reads from the peer, in a buffer of a
// pool shared by all connections: one is taken when bytes come and given
// back when the reader has used them all and waits for more. A connection
// with nothing to read holds no buffer, so an idle one costs little more
// than its socket and its goroutines.
//
// On a plain socket of a Unix system the wait is the runtime's poller's,
// with no buffer held: the buffer is taken for a read that finds bytes,
// given back when a read finds none, and the poller wakes the reader when
// some come. On another connection (TLS, a listener's wrapper), or
// another system, a buffer is held for the read, which waits inside.
//
// Every read goes through c.beforeRead first, which writes the answers
// the reader holds and arms the frame deadline (see beforeRead).
type readBuffer struct {
	c      *conn
	buf    *readBuf // nil while none is held
	r, w   int      // buf.b[r:w] is unread
	raw    syscall.RawConn
	rawFn  func(fd uintptr) bool // rawRead, bound once
	rawN   int
	rawErr error
}

// readBufferSize is the size of the pooled read buffers: many requests'
// worth, read in one system call under load. A longer body is read
// straight into its own memory.
const readBufferSize = 16 << 10

type readBuf struct{ b [readBufferSize]byte }

var readBufs = sync.Pool{New: func() any { return new(readBuf) }}

func newReadBuffer(c *conn) *readBuffer {
	b := &readBuffer{c: c}
	if sc, ok := c.nc.(syscall.Conn); ok && rawReads {
		if raw, err := sc.SyscallConn(); err == nil {
			b.raw = raw
			b.rawFn = b.rawRead
		}
	}
	return b
}

// Buffered returns the number of bytes read and not yet used.
func (b *readBuffer) Buffered() int { return b.w - b.r }

func (b *readBuffer) ReadByte() (byte, error) {
	if b.r == b.w {
		if err := b.fill(); err != nil {
			return 0, err
		}
	}
	c := b.buf.b[b.r]
	b.r++
	return c, nil
}

func (b *readBuffer) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if b.r == b.w {
		if len(p) >= readBufferSize {
			// A long read goes straight into p.
			b.release()
			b.c.beforeRead()
			return b.c.nc.Read(p)
		}
		if err := b.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, b.buf.b[b.r:b.w])
	b.r += n
	return n, nil
}

// wait waits until bytes have been read, if none are buffered.
func (b *readBuffer) wait() error {
	if b.r < b.w {
		return nil
	}
	return b.fill()
}

// fill reads into the buffer, empty, at least one byte or an error.
func (b *readBuffer) fill() error {
	b.r, b.w = 0, 0
	b.c.beforeRead()
	if b.raw == nil {
		b.take()
		n, err := b.c.nc.Read(b.buf.b[:])
		b.w = n
		if n > 0 {
			return nil
		}
		if err == nil {
			err = io.ErrNoProgress
		}
		return err
	}
	b.rawN, b.rawErr = 0, nil
	if err := b.raw.Read(b.rawFn); err != nil {
		b.release()
		return err // closed, or past the read deadline
	}
	if b.rawErr != nil {
		b.release()
		return b.rawErr
	}
	b.w = b.rawN
	return nil
}

// take takes a buffer from the pool, unless one is held.
func (b *readBuffer) take() {
	if b.buf == nil {
		b.buf = readBufs.Get().(*readBuf)
		b.c.srv.readBufs.Add(1)
	}
}

// release gives the buffer back to the pool, if one is held and empty.
func (b *readBuffer) release() {
	if b.buf != nil && b.r == b.w {
		readBufs.Put(b.buf)
		b.buf = nil
		b.r, b.w = 0, 0
		b.c.srv.readBufs.Add(-1)
	}
}

// drop gives the buffer back whatever it holds, when the reading has
// ended.
func (b *readBuffer) drop() {
	b.r, b.w = 0, 0
	b.release()
}
