//go:build unix

package transport

import (
	"io"
	"syscall"
)

// rawReads says whether readBuffer reads plain sockets itself (rawRead).
const rawReads = true

// rawRead is the read of fill on a plain socket, which the poller calls
// until it reports true: it reads what has come into a buffer, taken for
// it, or gives the buffer back and reports false when nothing has.
func (b *readBuffer) rawRead(fd uintptr) bool {
	b.take()
	for {
		n, err := syscall.Read(int(fd), b.buf.b[:])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			b.release() // nothing to read: wait without it
			return false
		case err != nil:
			b.rawErr = &sockReadError{err}
		case n == 0:
			b.rawErr = io.EOF
		default:
			b.rawN = n
		}
		return true
	}
}

// A sockReadError is a failed read of a plain socket, as the net package's
// reads fail: errors.Is finds the system's error in it.
type sockReadError struct{ err error }

func (e *sockReadError) Error() string { return "read: " + e.err.Error() }
func (e *sockReadError) Unwrap() error { return e.err }
