package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
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
// and a [Client].
//
// A lost connection is left to the ZooKeeper client, which dials again and
// resumes the session, however long ZooKeeper was away: ZooKeeper keeps a
// session, and its ephemeral nodes, until it has heard nothing from the
// client for the session timeout while it runs, so a session survives an
// ensemble's restart, and the nodes, watches and leaders with it. If the
// session expired meanwhile, ZooKeeper says so and the client opens a new
// one. Only a connection that has had no session for longer than the
// timeout, and has reached ZooKeeper (its dials succeed) without getting
// one for the timeout too, while a ZooKeeper server has said it serves
// (see serving) for the timeout as well (in which ZooKeeper, once it
// serves, keeps the sessions it had), is replaced by a new one: a ZooKeeper that starts, or has no
// quorum, accepts connections before it serves them, but a connection
// that has seen transactions is refused by an ensemble that lost its
// data, until the ensemble has made as many again; a new one has seen
// none.
//
// One goroutine, owned by the session, reads the connection's events,
// logs them and checks the connection. The connection changes under its
// users' feet: they load it with conn for what they do. Closing the old
// one fires its watches, which their owners set again on the new one.
//
// The session logs the connection's loss at warn level when it happens,
// and its return at info level, once each; a quiet session (a Client's,
// whose calls go on with the servers it knows) logs them at debug level.
type session struct {
	servers []string
	timeout time.Duration
	log     *slog.Logger
	notice  slog.Level // of the loss of the connection; info for its return, unless quiet
	quiet   bool
	dials   dialLog

	zk      atomic.Pointer[zk.Conn]
	wake    chan struct{} // signalled, never blocking, by each event and each new connection
	done    chan struct{} // closed by close
	stopped chan struct{} // closed when run returns
	once    sync.Once
}

// dialLog records the connections' dials to ZooKeeper, for the errors
// that say why there is no session.
type dialLog struct {
	mu   sync.Mutex
	errs map[string]error // the last failed dial of each address, until one succeeds
	ok   time.Time        // when a dial last succeeded
}

func (d *dialLog) dial(network, addr string, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout(network, addr, timeout)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		if d.errs == nil {
			d.errs = make(map[string]error)
		}
		d.errs[addr] = err
	} else {
		delete(d.errs, addr)
		d.ok = time.Now()
	}
	return c, err
}

// failed returns the last failed dial of each address that has not
// succeeded since, joined; nil if none.
func (d *dialLog) failed() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	for _, addr := range slices.Sorted(maps.Keys(d.errs)) {
		errs = append(errs, d.errs[addr])
	}
	return errors.Join(errs...)
}

// reached returns when a dial last succeeded.
func (d *dialLog) reached() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ok
}

// openSession connects to the ZooKeeper servers, host:port, and returns
// at once: the connection gets its session in the background (see
// session.await). A quiet session logs the connection's loss and return
// at debug level.
func openSession(servers []string, timeout time.Duration, log *slog.Logger, quiet bool) (*session, error) {
	s := &session{
		servers: servers,
		timeout: timeout,
		log:     log,
		notice:  slog.LevelWarn,
		quiet:   quiet,
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	if quiet {
		s.notice = slog.LevelDebug
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
	return zk.Connect(s.servers, s.timeout, zk.WithLogger(zkLogger{s.log}), zk.WithDialer(s.dials.dial))
}

// info is the level of the connection's return.
func (s *session) info() slog.Level {
	if s.quiet {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// conn returns the connection to ZooKeeper now.
func (s *session) conn() *zk.Conn { return s.zk.Load() }

// connected reports whether the connection has a session now.
func (s *session) connected() bool { return s.conn().State() == zk.StateHasSession }

// changed returns the channel signalled by each event of the connection
// and each new connection: the session's one reader wakes on it.
func (s *session) changed() <-chan struct{} { return s.wake }

// await waits for the connection to have a session, as long as ctx
// allows. Its error says why there is none: the last error of each
// server's dial, such as connection refused, if it failed.
func (s *session) await(ctx context.Context) error {
	start := time.Now()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !s.connected() {
		select {
		case <-tick.C:
		case <-ctx.Done():
			tried := time.Since(start).Round(100 * time.Millisecond)
			addrs := strings.Join(s.servers, ",")
			if err := s.dials.failed(); err != nil {
				return fmt.Errorf("cannot reach ZooKeeper %s (tried for %v: %w): %w", addrs, tried, ctx.Err(), err)
			}
			return fmt.Errorf("no session from ZooKeeper %s, which answers (tried for %v): %w", addrs, tried, ctx.Err())
		}
	}
	return nil
}

// run logs the connection's events and its loss and return, and replaces
// it when it is refused, until close.
func (s *session) run(events <-chan zk.Event) {
	defer close(s.stopped)
	tick := time.NewTicker(renewEvery)
	defer tick.Stop()
	var (
		had     bool      // the connection had a session once
		down    time.Time // when the session was lost, for the log; zero while there is one
		lost    time.Time // when the connection lost its session, or was made; zero while it has one
		lostSID int64     // the session lost
		reach   time.Time // when a dial first succeeded since lost; zero if none did
		served  time.Time // when a ZooKeeper server was first seen serving since; zero if none was
		nextAsk time.Time // when to ask the servers whether they serve again (see serving)
		warned  bool      // the loss, or the first failures to connect, were logged
	)
	lost = time.Now()
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
		conn := s.conn()
		if conn.State() == zk.StateHasSession {
			if warned {
				if had {
					renewed := "same"
					if conn.SessionID() != lostSID {
						renewed = "new: the old one expired, and the registrations are made again"
					}
					s.log.Log(context.Background(), s.info(), "connection to ZooKeeper back",
						"zk", conn.Server(), "down", time.Since(down).Round(time.Millisecond).String(), "session", renewed)
				} else {
					s.log.Log(context.Background(), s.info(), "connected to ZooKeeper", "zk", conn.Server())
				}
			}
			had, warned, down, lost, reach, served = true, false, time.Time{}, time.Time{}, time.Time{}, time.Time{}
			continue
		}
		if lost.IsZero() {
			lost = time.Now()
		}
		if down.IsZero() {
			down, lostSID = time.Now(), conn.SessionID()
		}
		if !warned {
			switch {
			case had:
				warned = true
				s.log.Log(context.Background(), s.notice, "lost the connection to ZooKeeper; the session and its registrations stay if it is back within the session timeout",
					"zk", strings.Join(s.servers, ","), "session_timeout", s.timeout.String())
			case s.dials.failed() != nil:
				warned = true
				s.log.Log(context.Background(), s.notice, "cannot reach ZooKeeper; trying again", "zk", strings.Join(s.servers, ","), "err", s.dials.failed())
			}
		}
		if ok := s.dials.reached(); reach.IsZero() && ok.After(lost) {
			reach = ok
		}
		if time.Since(lost) <= s.timeout || reach.IsZero() || time.Since(reach) <= s.timeout || time.Now().Before(nextAsk) {
			continue
		}
		if !s.serving() {
			// No quorum, or not yet: a new session would get nothing more.
			// Ask again in a second or two.
			nextAsk, served = time.Now().Add(time.Second+rand.N(time.Second)), time.Time{}
			continue
		}
		if served.IsZero() {
			served = time.Now()
		}
		if time.Since(served) <= s.timeout {
			// ZooKeeper serves: the connection has a while to get its
			// session back, as it does when a quorum returns.
			nextAsk = time.Now().Add(time.Second)
			continue
		}
		newConn, evs, err := s.dial()
		if err != nil {
			s.log.Warn("cannot connect to ZooKeeper again", "err", err)
			continue
		}
		s.log.Log(context.Background(), s.info(), "ZooKeeper answers but gives no session (has the ensemble lost its data?); connecting afresh", "zk", strings.Join(s.servers, ","))
		old := s.zk.Swap(newConn)
		events = evs
		lost, reach, served = time.Now(), time.Time{}, time.Time{}
		old.Close() // fires its watches
		s.signal()
	}
}

// serving reports whether a ZooKeeper server of the session's serves, as
// its srvr command says (a four-letter word ZooKeeper allows by
// default): a connection that reaches ZooKeeper and gets no session is
// refused either by a server that serves, whose ensemble lost its data,
// or by one without a quorum, as when most of the ensemble is down, which
// a new connection would get no more from. A server that answers srvr
// with neither (srvr not allowed) counts as serving, unless another says
// it has no quorum: a connection refused that long is replaced, as a
// last resort.
func (s *session) serving() bool {
	unknown, idle := false, false
	for _, addr := range zk.FormatServers(s.servers) {
		switch srvrMode(addr) {
		case srvrServing:
			return true
		case srvrIdle:
			idle = true
		case srvrUnknown:
			unknown = true
		}
	}
	return unknown && !idle
}

// What a ZooKeeper server's answer to srvr says.
const (
	srvrDown    = iota // no answer
	srvrServing        // it serves: "Mode: leader", "follower", "standalone"...
	srvrIdle           // it serves no requests: no quorum, or starting
	srvrUnknown        // an answer that says neither, such as srvr not being allowed
)

// srvrMode sends srvr to the ZooKeeper server at addr and says what its
// answer says.
func srvrMode(addr string) int {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return srvrDown
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("srvr")); err != nil {
		return srvrDown
	}
	b, _ := io.ReadAll(io.LimitReader(c, 4096))
	out := string(b)
	switch {
	case len(b) == 0:
		return srvrDown
	case strings.Contains(out, "\nMode: "):
		return srvrServing
	case strings.Contains(out, "not currently serving requests"):
		return srvrIdle
	}
	return srvrUnknown
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

// zkLogger is the ZooKeeper client's logger (zk.WithLogger): it writes to
// log at debug level, since what matters is logged by the session's users.
type zkLogger struct{ log *slog.Logger }

func (l zkLogger) Printf(format string, args ...any) {
	l.log.Debug("zookeeper: " + fmt.Sprintf(format, args...))
}
