package transport

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// Reading. The reader bounds how long a peer may hold the connection
// without using it, with one read deadline that it moves only now and
// then (readCheck): until the handshake is done (a first frame, and an
// accepted token when tokens are required) the deadline is
// HandshakeTimeout after the connection began; after, the reader looks
// every quarter of IdleTimeout whether a frame came or a call is in
// flight, and closes the connection after four looks in a row found
// neither. A frame begun must end within FrameTimeout (beforeRead).

// beforeRead runs before every read from the peer (see readBuffer), which
// may wait: it has the answers the reader holds written, and it arms the
// frame deadline when the decoder needs more bytes in the middle of a
// frame, so a peer that promises bytes it never sends can't hold the
// connection.
func (c *conn) beforeRead() {
	c.flushHeld()
	if c.midFrame && !c.armed {
		d := time.Now().Add(c.srv.cfg.FrameTimeout)
		if !c.handshaken() && c.rcheck.Before(d) {
			d = c.rcheck // the first frame is bounded by the handshake
		}
		c.nc.SetReadDeadline(d)
		c.armed = true
	}
}

// idleChecks is how many looks in a row, a quarter of IdleTimeout apart,
// must find a connection quiet before it is closed.
const idleChecks = 4

// handshaken reports whether the peer has sent a frame and, when tokens
// are required, has an accepted one.
func (c *conn) handshaken() bool {
	return c.frames > 0 && (c.authed || c.srv.cfg.Authenticate == nil)
}

// greet moves the read deadline from the handshake's to the idle checks'
// once the handshake is done.
func (c *conn) greet() {
	if !c.greeted && c.handshaken() {
		c.greeted = true
		c.rcheck = time.Now().Add(c.srv.cfg.IdleTimeout / idleChecks)
		c.nc.SetReadDeadline(c.rcheck)
	}
}

// readCheck runs when the read deadline between frames passes: it returns
// why the connection is closed, or moves the deadline on.
func (c *conn) readCheck() error {
	if !c.handshaken() {
		return ErrHandshakeTimeout
	}
	switch {
	case c.running.Load() > 0:
		// Quiet from the next look on at the soonest: a call may end
		// just after this one.
		c.quiet = -1
	case c.frames != c.checked:
		c.quiet = 0
	default:
		c.quiet++
		if c.quiet >= idleChecks {
			return ErrIdleTimeout
		}
	}
	c.checked = c.frames
	c.rcheck = time.Now().Add(c.srv.cfg.IdleTimeout / idleChecks)
	c.nc.SetReadDeadline(c.rcheck)
	return nil
}

// errHandedOver ends a reader whose inline call was slow: another reader
// goroutine took over.
var errHandedOver = errors.New("reading handed over")

// readLoop reads packets until an error, or until stopReading. It returns
// nil when it was stopped, errHandedOver when another goroutine took the
// reading over, errPeerDone when the peer ended its stream between
// frames.
func (c *conn) readLoop() error {
	var p Packet
	for {
		// A peer that doesn't read its answers gets no more served.
		c.waitForRoom()
		c.rmu.Lock()
		if c.stopping {
			c.rmu.Unlock()
			return nil
		}
		c.idle = true
		c.rmu.Unlock()

		err := c.rb.wait()

		c.rmu.Lock()
		c.idle = false
		stopping := c.stopping
		c.rmu.Unlock()
		if err != nil {
			switch {
			case stopping && errors.Is(err, os.ErrDeadlineExceeded):
				return nil
			case errors.Is(err, os.ErrDeadlineExceeded):
				if err := c.readCheck(); err != nil {
					return err
				}
				continue
			case errors.Is(err, io.EOF):
				return errPeerDone
			}
			return err
		}
		if stopping {
			// stopReading may have set a past deadline just as this
			// frame arrived: the next read re-arms the frame deadline.
			c.armed = false
		}

		c.midFrame = true
		err = c.dec.Decode(&p)
		c.midFrame = false
		if c.armed {
			c.nc.SetReadDeadline(c.rcheck)
			c.armed = false
		}
		if err != nil {
			c.frameFailed(err)
			if !c.handshaken() && errors.Is(err, os.ErrDeadlineExceeded) {
				return fmt.Errorf("%w: %w", ErrHandshakeTimeout, err)
			}
			return err
		}
		c.frames++
		c.greet() // before a call that may run inline long
		if !c.handle(&p) {
			return errHandedOver
		}
		if c.closeErr != nil {
			return c.closeErr
		}
		c.greet() // after an accepted token

	}
}

// takeOver is the start of a reader goroutine taking over from one whose
// inline call of function name is slow.
func (c *conn) takeOver(name string) {
	defer c.readers.Done()
	c.slow.ran(name, deadlineTick)
	c.flushHeld() // those of the calls before the slow one
	err := c.readLoop()
	if err == errHandedOver {
		return
	}
	if err != nil && err != errPeerDone {
		// As serve does, which may be in the inline call that waits for
		// this very cancellation.
		c.fail(err)
	}
	c.readerEnd <- err
}

// frameFailed answers a frame that could not be decoded, where there is
// someone to answer. Framing is lost either way: the caller closes.
func (c *conn) frameFailed(err error) {
	var fe *FrameError
	if !errors.As(err, &fe) {
		return
	}
	switch {
	case errors.Is(err, ErrUnsupportedVersion):
		c.sendError(V6, 0, CodeProtocolMismatch)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, net.ErrClosed):
		// The peer stopped sending or went away mid-frame.
	case fe.HeaderRead:
		c.sendError(fe.Version, fe.TID, CodeInvalidPacket)
	}
}

// handle serves p. It reports false when the reading was handed over to
// another goroutine while a call ran inline.
func (c *conn) handle(p *Packet) bool {
	if !c.authed && c.srv.cfg.Authenticate != nil {
		switch p.Type {
		case TypeRequest, TypeInspectReq, TypeInterrupt:
			c.log.Debug("call before authentication", "type", p.Type, "tid", p.TID)
			c.sendError(p.Version, p.TID, CodeACLReject)
			return true
		}
	}
	switch p.Type {
	case TypeRequest:
		return c.handleRequest(p)
	case TypePing:
		c.send(&Packet{Version: p.Version, TID: p.TID, Type: TypePong})
	case TypeInterrupt:
		c.cmu.Lock()
		cc := c.calls[p.TargetTID]
		c.cmu.Unlock()
		if cc != nil {
			cc.stop()
		}
	case TypeInspectReq:
		c.handleInspect(p)
	case TypeClientHello:
		name, version := cutHello(p.ClientName), cutHello(p.ClientVersion)
		if len(name) < len(p.ClientName) || len(version) < len(p.ClientVersion) {
			c.log.Debug("client-hello cut", "name", len(p.ClientName), "version", len(p.ClientVersion), "limit", MaxHelloString)
		}
		c.hmu.Lock()
		c.clientName, c.clientVersion = name, version
		c.hmu.Unlock()
		c.send(&Packet{Version: p.Version, TID: p.TID, Type: TypeServerHello, ServerVersion: c.srv.cfg.Version})
	case TypeAuthReq:
		res := AuthOK
		if auth := c.srv.cfg.Authenticate; auth != nil {
			c.authed = auth(p.Token)
			if !c.authed {
				res = AuthReject
				c.authFails++
				c.log.Info("authentication refused", "refused", c.authFails, "max", c.srv.cfg.MaxAuthFailures)
				c.pause(AuthFailureDelay)
				if c.authFails >= c.srv.cfg.MaxAuthFailures {
					c.closeErr = ErrAuthFailures
				}
			}
		}
		c.send(&Packet{Version: p.Version, TID: p.TID, Type: TypeAuthAck, AuthResult: res})
	case TypePong:
		// An answer to nothing: harmless.
	default:
		// Packets only a server sends.
		c.log.Debug("unexpected packet", "type", p.Type, "tid", p.TID)
		c.sendError(p.Version, p.TID, CodeInvalidPacket)
	}
	return true
}

// pause waits for d, or for the connection's end.
func (c *conn) pause(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.ctx.Done():
	}
}
