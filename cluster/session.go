package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
)

// renewEvery is how often a session checks its connection even when
// ZooKeeper tells it nothing: the ZooKeeper client drops events when its
// channel is full.
const renewEvery = 100 * time.Millisecond

// session is a long-lived connection to ZooKeeper, shared by a [Member]
// and a [Client]: the connection is replaced by a new one once it has had
// no session for longer than the session timeout, so its session is
// gone. A connection that has seen transactions is refused by an
// ensemble that lost its data, until the ensemble has made as many
// again; a new one has seen none.
//
// One goroutine, owned by the session, reads the connection's events,
// logs them and checks the connection. The connection changes under its
// users' feet: they load it with conn for what they do. Closing the old
// one fires its watches, which their owners set again on the new one.
type session struct {
	servers []string
	timeout time.Duration
	log     *slog.Logger

	zk      atomic.Pointer[zk.Conn]
	wake    chan struct{} // signalled, never blocking, by each event and each new connection
	done    chan struct{} // closed by close
	stopped chan struct{} // closed when run returns
	once    sync.Once
}

// openSession connects to the ZooKeeper servers, host:port, and returns
// at once: the connection gets its session in the background (see
// session.await).
func openSession(servers []string, timeout time.Duration, log *slog.Logger) (*session, error) {
	s := &session{
		servers: servers,
		timeout: timeout,
		log:     log,
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	conn, events, err := s.dial()
	if err != nil {
		return nil, err
	}
	s.zk.Store(conn)
	go s.run(events)
	return s, nil
}

func (s *session) dial() (*zk.Conn, <-chan zk.Event, error) {
	return zk.Connect(s.servers, s.timeout, zk.WithLogger(zkLogger{s.log}))
}

// conn returns the connection to ZooKeeper now.
func (s *session) conn() *zk.Conn { return s.zk.Load() }

// connected reports whether the connection has a session now.
func (s *session) connected() bool { return s.conn().State() == zk.StateHasSession }

// changed returns the channel signalled by each event of the connection
// and each new connection: the session's one reader wakes on it.
func (s *session) changed() <-chan struct{} { return s.wake }

// await waits for the connection to have a session, as long as ctx
// allows.
func (s *session) await(ctx context.Context) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !s.connected() {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// run logs the connection's events and replaces it, once it has had no
// session for longer than the timeout, until close.
func (s *session) run(events <-chan zk.Event) {
	defer close(s.stopped)
	tick := time.NewTicker(renewEvery)
	defer tick.Stop()
	var lost time.Time // when the connection lost its session; zero while it has one
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				events = nil // closed with its connection
				continue
			}
			if ev.Type == zk.EventSession {
				s.log.Debug("zookeeper session", "state", ev.State.String(), "server", ev.Server)
			}
			s.signal()
		case <-tick.C:
		case <-s.done:
			return
		}
		if !expired(s.conn(), &lost, s.timeout) {
			continue
		}
		conn, evs, err := s.dial()
		if err != nil {
			s.log.Warn("cannot connect to ZooKeeper again", "err", err)
			continue
		}
		s.log.Info("no ZooKeeper session for longer than its timeout; connecting again")
		old := s.zk.Swap(conn)
		events = evs
		old.Close() // fires its watches
		s.signal()
	}
}

func (s *session) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// close stops the session's goroutine and closes its connection, which
// ends the requests waiting for ZooKeeper and fires the watches. It may be
// called more than once.
func (s *session) close() {
	s.once.Do(func() {
		close(s.done)
		<-s.stopped
		s.conn().Close()
	})
}

// expired reports whether conn has had no session for longer than
// timeout. lost is the caller's record of when the connection lost its
// session.
func expired(conn *zk.Conn, lost *time.Time, timeout time.Duration) bool {
	switch {
	case conn.State() == zk.StateHasSession:
		*lost = time.Time{}
	case lost.IsZero():
		*lost = time.Now()
	case time.Since(*lost) > timeout:
		*lost = time.Time{}
		return true
	}
	return false
}

// zkLogger is the ZooKeeper client's logger (zk.WithLogger): it writes to
// log at debug level, since what matters is logged by the session's users.
type zkLogger struct{ log *slog.Logger }

func (l zkLogger) Printf(format string, args ...any) {
	l.log.Debug("zookeeper: " + fmt.Sprintf(format, args...))
}
