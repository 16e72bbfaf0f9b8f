package probe

import (
	"io"
	"sync"
)

// outbox is what one side of a connection has to write, and the writer
// goroutine that writes it: senders append frames to buf under mu and
// wake the writer, which takes everything queued since its last write and
// writes it in one call. Under load, frames pile up while a write is in
// the kernel, so the writes coalesce by themselves.
type outbox struct {
	mu   sync.Mutex
	buf  []byte
	wake chan struct{} // capacity 1: a pending wake-up is never lost
}

func newOutbox() *outbox { return &outbox{wake: make(chan struct{}, 1)} }

// signal wakes the writer after frames were appended.
func (o *outbox) signal() {
	select {
	case o.wake <- struct{}{}:
	default: // already woken; it will take these frames too
	}
}

// run writes until quit is closed or a write fails, and returns the
// write's error. Two buffers alternate: senders fill one while the other
// is written.
func (o *outbox) run(w io.Writer, quit <-chan struct{}) error {
	var spare []byte
	for {
		select {
		case <-o.wake:
		case <-quit:
			return nil
		}
		o.mu.Lock()
		b := o.buf
		o.buf = spare[:0]
		o.mu.Unlock()
		if len(b) > 0 {
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		spare = b
	}
}
