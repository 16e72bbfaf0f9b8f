package probe

import (
	"encoding/binary"
	"errors"
	"io"
	"slices"
)

// Sizes of the wire format.
const (
	HeaderSize = 9       // size u32, id u32, op u8
	MaxBody    = 1 << 20 // the largest body either side reads
	addSize    = 16      // an add request's body: a and b
	sumSize    = 8       // an add reply's body
)

// Ops: OpAdd and OpEcho in requests, OpOK and OpError in replies.
const (
	OpOK    byte = 0
	OpError byte = 1
	OpAdd   byte = 2
	OpEcho  byte = 3
)

// Header is the first HeaderSize bytes of a frame.
type Header [HeaderSize]byte

// Size returns the size of the body that follows.
func (h *Header) Size() uint32 { return binary.BigEndian.Uint32(h[0:4]) }

// ID returns the call's id.
func (h *Header) ID() uint32 { return binary.BigEndian.Uint32(h[4:8]) }

// Op returns the frame's op.
func (h *Header) Op() byte { return h[8] }

// AppendHeader appends the header of a frame whose body is size bytes.
func AppendHeader(dst []byte, id uint32, op byte, size int) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(size))
	dst = binary.BigEndian.AppendUint32(dst, id)
	return append(dst, op)
}

// AppendFrame appends a whole frame.
func AppendFrame(dst []byte, id uint32, op byte, body []byte) []byte {
	return append(AppendHeader(dst, id, op, len(body)), body...)
}

// AppendAdd appends an add request for a + b.
func AppendAdd(dst []byte, id uint32, a, b int64) []byte {
	dst = AppendHeader(dst, id, OpAdd, addSize)
	dst = binary.BigEndian.AppendUint64(dst, uint64(a))
	return binary.BigEndian.AppendUint64(dst, uint64(b))
}

// ReadFrame reads one frame from r into h and body, which it reuses if
// it is large enough, and returns the body. It does not care how r's
// reads split the frame. A size over MaxBody returns ErrTooLarge before
// any of the body is read; a stream that ends inside a frame returns
// io.ErrUnexpectedEOF, and one that ends between frames io.EOF.
func ReadFrame(r io.Reader, h *Header, body []byte) ([]byte, error) {
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return body[:0], err
	}
	n := h.Size()
	if n > MaxBody {
		return body[:0], ErrTooLarge
	}
	body = slices.Grow(body[:0], int(n))[:n]
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return body[:0], err
	}
	return body, nil
}

// addArgs decodes an add request's body.
func addArgs(body []byte) (a, b int64, ok bool) {
	if len(body) != addSize {
		return 0, 0, false
	}
	return int64(binary.BigEndian.Uint64(body)), int64(binary.BigEndian.Uint64(body[8:])), true
}

func appendInt64(dst []byte, n int64) []byte { return binary.BigEndian.AppendUint64(dst, uint64(n)) }
