package transport

import (
	"errors"
	"fmt"
	"runtime"
	"time"
)

// Writing. One writer goroutine (writeLoop), started when frames wait
// and ended when the connection idles, writes everything queued since its
// last write in one system call, so responses are coalesced under load. The reader holds the answers of the calls it runs inline while
// more requests are buffered: they leave with the next ones', in one
// write, when the reader has served all it read and reads again
// (flushHeld, from beforeRead), or once holdMax bytes are held.
// The answer of the only call running, when no more requests had come as
// it was read, is written by the call's goroutine with those held, when
// no write is under way: that saves waking the writer. A write that fails
// (the peer closed entirely) fails the connection, which cancels the
// calls still running.

// How queue sends a packet.
type sendMode int

const (
	wakeWriter sendMode = iota // the writer writes it
	holdInline                 // the reader's: held for flushHeld
	writeHere                  // written by this goroutine if none writes
)

// holdMax is the most the reader holds before it wakes the writer.
const holdMax = 32 << 10

// errorPacket is the error packet of code for tid.
func errorPacket(v Version, tid int32, code Code) Packet {
	if v != V5 {
		v = V6
	}
	return Packet{Version: v, TID: tid, Type: TypeError, Code: code}
}

// sendError sends, from the reader, the error packet of code for tid.
func (c *conn) sendError(v Version, tid int32, code Code) {
	p := errorPacket(v, tid, code)
	c.send(&p)
}

// waitForRoom waits while more than maxQueued bytes wait to be written, so
// a peer that reads slowly or not at all can't make the server hold its
// answers without bound. A peer that reads nothing for WriteTimeout fails
// the writer, which releases the waiters.
func (c *conn) waitForRoom() {
	c.wmu.Lock()
	c.roomLocked()
	c.wmu.Unlock()
}

// roomLocked waits, holding wmu, while more than maxQueued bytes wait to
// be written, having woken the writer for any held.
func (c *conn) roomLocked() {
	for len(c.wbuf) > c.maxQueued && !c.wdead {
		if c.held {
			c.held = false
			c.wakeWriterLocked()
		}
		c.wroom.Wait()
	}
}

// send queues p, a packet of the reader's own (not a call's answer), from
// the reader: held with the answers of its inline calls while more
// requests are buffered, else written at once if no write is under way.
func (c *conn) send(p *Packet) {
	mode := writeHere
	if c.rb.Buffered() > 0 {
		mode = holdInline
	}
	c.queue(p, false, mode, nil)
}

// queue queues p to be written as mode says; with wait, only once the
// queue has room, so that answers, which may be large, never pile up past
// maxQueued. cl is the call p answers, if any: the reader holds its answer
// only while it still runs it inline.
func (c *conn) queue(p *Packet, wait bool, mode sendMode, cl *call) {
	c.wmu.Lock()
	if wait {
		c.roomLocked()
	}
	if c.wdead {
		c.wmu.Unlock()
		return
	}
	n := len(c.wbuf)
	b, err := AppendPacket(c.wbuf, p)
	if err != nil {
		c.wbuf = b[:n]
		c.wmu.Unlock()
		c.log.Error("cannot encode packet", "type", p.Type, "tid", p.TID, "err", err)
		return
	}
	c.wbuf = b
	if mode == holdInline && len(b) < holdMax && c.inline.Load() == cl {
		// Under wmu, as takeOver's flushHeld: a reader that took over
		// either finds this answer held or made this call not inline.
		c.held = true
		c.wmu.Unlock()
		return
	}
	c.held = false
	if mode == writeHere && !c.writing {
		c.writing = true
		c.wbuf = nil
		c.wroom.Broadcast()
		c.wmu.Unlock()
		if !c.write(b) {
			return
		}
		c.wmu.Lock()
		c.writing = false
		if c.wbuf == nil && cap(b) <= 1<<20 {
			c.wbuf = b[:0] // no frame came meanwhile: keep the buffer
		}
		if len(c.wbuf) > 0 && !c.held {
			c.wakeWriterLocked()
		}
		c.wmu.Unlock()
		return
	}
	c.wakeWriterLocked()
	c.wmu.Unlock()
}

// wakeWriterLocked, holding wmu, tells the writer frames wait, starting
// one if none runs.
func (c *conn) wakeWriterLocked() {
	c.writerStop = false
	if !c.writerOn {
		c.writerOn = true
		c.writers.Add(1)
		go c.writeLoop()
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// flushHeld has the answers the reader holds written: by the reader, its
// inline calls done, before it reads again.
func (c *conn) flushHeld() {
	c.wmu.Lock()
	if c.held {
		c.held = false
		c.wakeWriterLocked()
	}
	c.wmu.Unlock()
}

// stopIdleWriter ends the writer if it has nothing to write: the
// connection has been idle for a while (watch). The next frame to write
// starts another (wakeWriterLocked), so an idle connection keeps no
// writer goroutine.
func (c *conn) stopIdleWriter() {
	c.wmu.Lock()
	if c.writerOn && !c.writing && len(c.wbuf) == 0 {
		c.writerStop = true
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	c.wmu.Unlock()
}

// writeLoop writes queued frames, all that queued up since the last write
// in one call, until serve closes wquit; then it writes what is left. It
// ends sooner when stopIdleWriter asks.
func (c *conn) writeLoop() {
	defer c.writers.Done()
	var spare []byte
	for {
		quit := false
		select {
		case <-c.wake:
		case <-c.wquit:
			quit = true
		}
		// Let the calls finishing now queue their frames too, so they
		// leave in this write rather than one write each; with no call
		// running, none will.
		if c.running.Load() > 0 {
			runtime.Gosched()
		}
		c.wmu.Lock()
		if c.writerStop && !quit {
			c.writerStop, c.writerOn = false, false
			c.wmu.Unlock()
			return
		}
		if c.writing {
			// A call's goroutine writes; it wakes the writer when done.
			c.wmu.Unlock()
			if quit {
				return // serve waited for the calls: none writes
			}
			continue
		}
		buf := c.wbuf
		c.wbuf = spare[:0]
		c.held = false
		c.writing = len(buf) > 0
		c.wroom.Broadcast()
		c.wmu.Unlock()
		if len(buf) > 0 && !c.write(buf) {
			return
		}
		c.wmu.Lock()
		c.writing = false
		c.wmu.Unlock()
		if cap(buf) > 1<<20 {
			buf = nil // don't keep a huge response's buffer
		}
		spare = buf
		if quit {
			return
		}
	}
}

// errWriteFailed is the error of a connection whose write failed: the
// peer is gone, or read nothing for WriteTimeout.
var errWriteFailed = errors.New("write failed")

// write writes buf, by the goroutine that set c.writing. A failed write
// drops the frames queued and those to come, releases the goroutines
// waiting for room, and fails the connection; write then reports false.
func (c *conn) write(buf []byte) bool {
	// Each write gets between 3/4 of WriteTimeout and all of it: moving
	// the deadline costs a timer update, not made for every write.
	timeout := c.srv.cfg.WriteTimeout
	if now := time.Now(); c.wdeadline.Sub(now) < timeout*3/4 {
		c.wdeadline = now.Add(timeout)
		c.nc.SetWriteDeadline(c.wdeadline)
	}
	if _, err := c.nc.Write(buf); err != nil {
		c.wmu.Lock()
		c.wdead = true
		c.wbuf = nil
		c.wroom.Broadcast()
		c.wmu.Unlock()
		c.fail(fmt.Errorf("%w: %w", errWriteFailed, err))
		c.nc.Close()
		return false
	}
	return true
}
