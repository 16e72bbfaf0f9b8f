package transport

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ServerConfig configures a Server. The zero value works; each field says
// what zero means.
type ServerConfig struct {
	// Limits bounds incoming frames. Zero fields take the defaults in
	// limits.go.
	Limits Limits
	// Codecs are the content types the server accepts for calls.
	// Nil means DefaultCodecs(): JSON and msgpack.
	Codecs []Codec
	// FrameTimeout is how long the rest of a frame may take to arrive once
	// its first byte has. A peer that stops half way is disconnected.
	// Zero means 10s.
	FrameTimeout time.Duration
	// HandshakeTimeout is how long a new connection has to send its first
	// complete frame and, when Authenticate is set, to give a token it
	// accepts; one that has not is closed, as is one whose accepted token
	// was followed by a refused one (at the next idle check). Zero means
	// 10s.
	HandshakeTimeout time.Duration
	// IdleTimeout closes a connection that has had no call in flight and
	// sent no frame (a ping is one) for that long. It is checked every
	// quarter of it, so a connection is closed between IdleTimeout and
	// 1.25 times it after it fell quiet. Clients that ping more often
	// than that (slacker-lua's Go client pings a connection quiet for
	// 15s) are never closed. Zero means 5m.
	IdleTimeout time.Duration
	// MaxAuthFailures is how many refused tokens a connection may give:
	// the last refusal is answered, then the connection closed. Each
	// refusal is answered after AuthFailureDelay, so a connection can't
	// guess tokens quickly. Zero means 3.
	MaxAuthFailures int
	// WriteTimeout is how long a write to a peer may block: between 3/4
	// of it and all of it, as the deadline is moved once it nears. A peer
	// that reads nothing for that long is disconnected. Zero means 30s.
	WriteTimeout time.Duration
	// MaxInFlight bounds the calls running at once for one connection.
	// At the bound the server stops reading that connection until a call
	// ends, so TCP pushes back on the peer. Zero means 4096.
	MaxInFlight int
	// Version is the server version sent in server-hello packets.
	// Empty means "slacker-lua/" + ServerVersion.
	Version string
	// Logger receives connection-level events. Nil means no logging.
	Logger *slog.Logger
	// Authenticate, if set, checks the token of a peer's auth-req packet:
	// until a connection's peer has given a token it accepts, its calls,
	// inspect requests and interrupts are answered acl-reject. Nil means
	// every peer may call; an auth-req is then accepted, whatever its
	// token. It is called from many goroutines at once.
	Authenticate func(token string) bool
	// MaxConns bounds the connections served at once: past it, a new
	// connection is closed at once, and logged. Zero means no bound.
	MaxConns int
}

// ServerVersion is the version of this server implementation.
const ServerVersion = "0.1.0"

// Server defaults.
const (
	DefaultFrameTimeout     = 10 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultIdleTimeout      = 5 * time.Minute
	DefaultWriteTimeout     = 30 * time.Second
	DefaultMaxInFlight      = 4096
	DefaultMaxAuthFailures  = 3
)

// AuthFailureDelay is how long the server waits before it answers a
// refused token, reading nothing else from that connection meanwhile.
const AuthFailureDelay = 200 * time.Millisecond

// withDefaults returns c with its zero fields filled.
func (c ServerConfig) withDefaults() ServerConfig {
	c.Limits = c.Limits.withDefaults()
	if c.Codecs == nil {
		c.Codecs = DefaultCodecs()
	}
	if c.FrameTimeout == 0 {
		c.FrameTimeout = DefaultFrameTimeout
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxAuthFailures == 0 {
		c.MaxAuthFailures = DefaultMaxAuthFailures
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.Version == "" {
		c.Version = "slacker-lua/" + ServerVersion
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports every field of c that is out of range; the constructor calls it.
func (c ServerConfig) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		bad  bool
	}{
		{"FrameTimeout", c.FrameTimeout < 0},
		{"HandshakeTimeout", c.HandshakeTimeout < 0},
		{"IdleTimeout", c.IdleTimeout < 0},
		{"MaxAuthFailures", c.MaxAuthFailures < 0},
		{"WriteTimeout", c.WriteTimeout < 0},
		{"MaxInFlight", c.MaxInFlight < 0},
		{"MaxConns", c.MaxConns < 0},
	} {
		if f.bad {
			errs = append(errs, errors.New("transport: negative "+f.name))
		}
	}
	if len(c.Version) > DefaultMaxFieldSize {
		errs = append(errs, errors.New("transport: Version longer than 65535 bytes"))
	}
	for _, cd := range c.Codecs {
		if cd == nil {
			errs = append(errs, errors.New("transport: nil codec"))
			break
		}
	}
	return errors.Join(errs...)
}

// Server serves a Handler over slacker's protocol. Create it with NewServer;
// it may serve several listeners at once.
type Server struct {
	h       Handler
	cfg     ServerConfig
	started time.Time
	mem     MemoryReleaser // returns refused bodies' memory
	bodies  bufferPool     // results are encoded in these
	// readBufs counts the read buffers the connections hold (see
	// readBuffer): those reading now, not those waiting.
	readBufs atomic.Int64

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	closing   bool
	connsDone chan struct{} // closed when conns is empty while closing
	// Connections refused past MaxConns, and when that was last logged.
	refused       int64
	refusedLogged time.Time

	wg sync.WaitGroup // Serve loops and connection goroutines
}

// NewServer returns a server that dispatches calls to h. It returns an error
// if h is nil or cfg is invalid.
func NewServer(h Handler, cfg ServerConfig) (*Server, error) {
	if h == nil {
		return nil, errors.New("transport: nil handler")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Server{
		h:         h,
		cfg:       cfg.withDefaults(),
		started:   time.Now(),
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
	}, nil
}

// Serve accepts connections on ln and serves each in its own goroutines. It
// returns ErrServerClosed after Shutdown or Close, or the listener's error.
// Temporary accept errors are retried with a capped backoff.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()

	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosing() {
				return ErrServerClosed
			}
			if isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.cfg.Logger.Warn("accept failed; retrying", "err", err, "delay", backoff.String())
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		if !s.track(nc) {
			nc.Close()
			return ErrServerClosed
		}
	}
}

// isTemporary reports whether an accept error is worth retrying: running
// out of file descriptors or buffers, or a connection aborted before it was
// accepted.
func isTemporary(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// track registers a new connection and starts serving it. It reports false
// when the server is closing.
func (s *Server) track(nc net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	if max := s.cfg.MaxConns; max > 0 && len(s.conns) >= max {
		s.refused++
		if now := time.Now(); now.Sub(s.refusedLogged) >= time.Second {
			s.cfg.Logger.Warn("too many connections: refusing new ones", "max", max, "refused", s.refused, "remote", nc.RemoteAddr().String())
			s.refusedLogged = now
		}
		nc.Close()
		return true
	}
	c := newConn(s, nc)
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		c.serve()
		s.forget(c)
	}()
	return true
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	if s.closing && len(s.conns) == 0 && s.connsDone != nil {
		close(s.connsDone)
		s.connsDone = nil
	}
}

// beginClose stops the listeners and returns a channel closed once every
// connection has finished. It is safe to call more than once.
func (s *Server) beginClose() (done <-chan struct{}, conns []*conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closing {
		s.closing = true
		for ln := range s.listeners {
			ln.Close()
		}
	}
	ch := make(chan struct{})
	if len(s.conns) == 0 {
		close(ch)
	} else if s.connsDone != nil {
		ch = s.connsDone
	} else {
		s.connsDone = ch
	}
	for c := range s.conns {
		conns = append(conns, c)
	}
	return ch, conns
}

// Shutdown stops the server gracefully: it closes the listeners, stops
// reading new requests, lets the calls already received finish and their
// responses reach the peers, then closes the connections. If ctx ends
// first, the remaining calls are cancelled, the connections closed, and
// Shutdown returns ctx's error at once, without waiting for functions that
// ignore cancellation (Close waits for them). Serve returns ErrServerClosed.
func (s *Server) Shutdown(ctx context.Context) error {
	done, conns := s.beginClose()
	for _, c := range conns {
		c.stopReading()
	}
	select {
	case <-done:
		s.wg.Wait()
		return nil
	case <-ctx.Done():
		// Cancel what is left and return at once, as promised: a
		// function that ignores cancellation must not hold Shutdown.
		// Close waits for the goroutines.
		_, conns := s.beginClose()
		for _, c := range conns {
			c.abort()
		}
		return ctx.Err()
	}
}

// Close stops the server at once: it closes the listeners and every
// connection, cancelling the calls in flight, and waits for its goroutines.
// It is safe to call more than once.
func (s *Server) Close() error {
	_, conns := s.beginClose()
	for _, c := range conns {
		c.abort()
	}
	s.wg.Wait()
	return nil
}

// ClientInfo describes a connected peer, as listed by the clients inspect
// command.
type ClientInfo struct {
	Addr        string
	Name        string
	Version     string
	ConnectedAt time.Time
}

// snapshotConns returns the connections being served.
func (s *Server) snapshotConns() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	return conns
}

// Clients returns the connected peers.
func (s *Server) Clients() []ClientInfo {
	conns := s.snapshotConns()
	out := make([]ClientInfo, 0, len(conns))
	for _, c := range conns {
		out = append(out, c.info())
	}
	return out
}

// InFlight returns the number of calls running on all connections.
func (s *Server) InFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c := range s.conns {
		n += int(c.running.Load())
	}
	return n
}
