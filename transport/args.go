package transport

import (
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// serves reports whether the server's handler may serve name: false only
// when the handler is a Finder that does not.
func (s *Server) serves(name string) bool {
	f, ok := s.h.(Finder)
	return !ok || f.Has(name)
}

// notServed answers a request of a function the handler does not serve,
// through its interceptors, without decoding the body.
func (c *conn) notServed(p *Packet, codec Codec) {
	err := NotServed(c.ctx, c.srv.h, p.Name)
	switch code := CodeOf(err); code {
	case CodeSuccess, CodeException: // an interceptor's own answer
		body, _ := codec.Marshal(err.Error())
		if err == nil {
			body, _ = codec.Marshal(nil)
		}
		c.queue(&Packet{Version: p.Version, TID: p.TID, Type: TypeResponse, ContentType: codec.ContentType(), Code: code, Body: body}, true, wakeWriter, nil)
	default:
		c.sendError(p.Version, p.TID, code)
	}
	size := len(p.Body)
	p.Body = nil
	c.srv.mem.After(size)
}

// refuseArgs answers a request whose arguments did not decode: exception
// "arguments too large to decode: ..." for a body over its budget, and
// invalid-packet for a body that is not an argument array.
func (c *conn) refuseArgs(p *Packet, codec Codec, err error) {
	if !errors.Is(err, ErrBodyTooComplex) {
		c.reject(p, fmt.Errorf("arguments: %w", err))
		return
	}
	c.log.Debug("arguments refused", "tid", p.TID, "name", p.Name, "size", len(p.Body), "err", err)
	size := len(p.Body)
	body, _ := codec.Marshal(err.Error())
	res := Packet{Version: p.Version, TID: p.TID, Type: TypeResponse, ContentType: codec.ContentType(), Code: CodeException, Body: body}
	if p.Version == V6 {
		res.Extensions = p.Extensions
	}
	c.waitForRoom()
	c.queue(&res, true, wakeWriter, nil)
	p.Body = nil
	c.srv.mem.After(size)
}

// MemoryReleaser returns the memory of large request bodies to the
// operating system once they are garbage: the Go runtime would keep it
// until its next collection, which a server that allocates little may not
// run for minutes. Its zero value works; it is safe for concurrent use.
type MemoryReleaser struct {
	last    atomic.Int64 // when it last released, in Unix nanoseconds
	pending atomic.Bool  // a release is due at the end of the interval
	free    func()       // nil: debug.FreeOSMemory
}

// Release thresholds: a body of ReleaseAbove bytes or more is returned,
// at most once every ReleaseEvery.
const (
	ReleaseAbove = 4 << 20
	ReleaseEvery = time.Second
)

// After is called once a request body of size bytes is garbage: at or over
// ReleaseAbove, it runs a collection and returns the free memory
// (debug.FreeOSMemory), on the calling goroutine, unless it did within
// ReleaseEvery; then it does once that interval ends, on a timer's
// goroutine, so that the last bodies of a burst are returned too.
func (m *MemoryReleaser) After(size int) {
	if size < ReleaseAbove {
		return
	}
	now := time.Now().UnixNano()
	last := m.last.Load()
	if wait := last + int64(ReleaseEvery) - now; wait > 0 {
		if m.pending.CompareAndSwap(false, true) {
			time.AfterFunc(time.Duration(wait), func() {
				m.last.Store(time.Now().UnixNano())
				m.pending.Store(false)
				m.release()
			})
		}
		return
	}
	if !m.last.CompareAndSwap(last, now) {
		return
	}
	m.release()
}

func (m *MemoryReleaser) release() {
	if m.free != nil {
		m.free()
		return
	}
	debug.FreeOSMemory()
}
