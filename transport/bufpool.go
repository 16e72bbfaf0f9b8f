package transport

import "sync"

// bufferPool holds encoding buffers for reuse, so that encoding a result
// allocates nothing once the buffers have grown. Its zero value works; it
// is safe for concurrent use.
type bufferPool struct{ p sync.Pool }

// buffer is a pooled encoding buffer; the pool holds pointers, so that
// putting one back allocates nothing.
type buffer struct{ b []byte }

func (p *bufferPool) get() *buffer {
	if b, ok := p.p.Get().(*buffer); ok {
		return b
	}
	return &buffer{b: make([]byte, 0, 256)}
}

// put returns b to the pool, unless it grew past maxPooledBuffer; b must
// not be used after.
func (p *bufferPool) put(b *buffer) {
	if cap(b.b) > maxPooledBuffer {
		return
	}
	b.b = b.b[:0]
	p.p.Put(b)
}
