package gateway

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// BodyTimeout returns next with every request body bounded in time: the
// body must have arrived within d of the request's start, or reading it
// fails (the gateway answers 400) and the connection is closed, so a body
// sent a byte at a time can't hold a connection. A request without a body
// gets no deadline, and the deadline is lifted once the body has been read,
// so that it never cuts a long call short. d must be positive.
func BodyTimeout(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(d)); err != nil {
			next.ServeHTTP(w, r) // a writer without deadlines: a test's
			return
		}
		r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody lifts its connection's read deadline once it is read to its
// end.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// LimitListener returns a listener of ln's connections that serves at
// most max at once: past it, a new connection is closed as soon as it is
// accepted, and logged at most once a second. A connection counts until
// it is closed. max must be positive.
func LimitListener(ln net.Listener, max int, log *slog.Logger) net.Listener {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &limitListener{Listener: ln, slots: make(chan struct{}, max), log: log}
}

type limitListener struct {
	net.Listener
	slots chan struct{}
	log   *slog.Logger

	mu      sync.Mutex
	refused int64
	logged  time.Time
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &limitConn{Conn: c, slots: l.slots}, nil
		default:
		}
		c.Close()
		l.mu.Lock()
		l.refused++
		if now := time.Now(); now.Sub(l.logged) >= time.Second {
			l.log.Warn("too many HTTP connections: refusing new ones", "max", cap(l.slots), "refused", l.refused, "remote", c.RemoteAddr().String())
			l.logged = now
		}
		l.mu.Unlock()
	}
}

// limitConn gives its slot back when closed, once.
type limitConn struct {
	net.Conn
	slots chan struct{}
	once  sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { <-c.slots })
	return err
}
