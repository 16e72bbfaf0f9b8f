// Package zktest starts real Apache ZooKeeper servers for tests, each on a
// free loopback port with a data folder of its own (package zkrun runs
// them). It needs the jars of Debian's zookeeper package, which
// scripts/install-deps installs; without them a test fails, naming that
// step.
package zktest

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/internal/zkrun"
)

// Jar is the ZooKeeper server's jar, whose manifest names the jars it
// needs.
const Jar = zkrun.Jar

// TickTime is the servers' tick: sessions may last from 2 to 20 ticks.
const TickTime = 500 * time.Millisecond

// Server is a standalone ZooKeeper server run by a test.
type Server struct {
	Addr string // host:port of its client port

	t  testing.TB
	zk *zkrun.Server
}

// Start starts a ZooKeeper server and waits until it answers. It is
// stopped when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	zs, err := zkrun.Start(context.Background(), zkrun.Config{Dir: t.TempDir(), TickTime: TickTime})
	if err != nil {
		t.Fatalf("zktest: %v", err)
	}
	t.Cleanup(zs.Stop)
	return &Server{Addr: zs.Addr, t: t, zk: zs}
}

// Stop stops the server, as a crash would: at once. Stop may be called
// more than once.
func (s *Server) Stop() { s.zk.Stop() }

// Restart starts the stopped server again, on the same port. With wipe,
// its data is gone, as if the ensemble were new. (ZooKeeper then refuses
// the clients that saw the old data's transactions, until it has as many
// of its own.)
func (s *Server) Restart(wipe bool) {
	s.t.Helper()
	if err := s.zk.Restart(context.Background(), wipe); err != nil {
		s.t.Fatalf("zktest: %v", err)
	}
}

// Pid returns the process id of the running server; 0 if it is stopped.
func (s *Server) Pid() int { return s.zk.Pid() }

// Watches returns the watches the server holds for its clients, from its
// wchs command: ZooKeeper counts a session's watches of one node, of its
// data and of its children, as one.
func (s *Server) Watches() int {
	s.t.Helper()
	out, err := zkrun.FourLetter(s.Addr, "wchs")
	if err != nil {
		s.t.Fatalf("zktest: wchs: %v", err)
	}
	for line := range strings.Lines(out) {
		if n, ok := strings.CutPrefix(strings.TrimSpace(line), "Total watches:"); ok {
			if w, err := strconv.Atoi(n); err == nil {
				return w
			}
		}
	}
	s.t.Fatalf("zktest: no total in wchs's answer %q", out)
	return 0
}

// Watched reports whether some session watches the node p, from the
// server's wchp command.
func (s *Server) Watched(p string) bool {
	s.t.Helper()
	out, err := zkrun.FourLetter(s.Addr, "wchp")
	if err != nil {
		s.t.Fatalf("zktest: wchp: %v", err)
	}
	for line := range strings.Lines(out) {
		if strings.TrimSpace(line) == p {
			return true
		}
	}
	return false
}

// Ensemble is a ZooKeeper ensemble run by a test.
type Ensemble struct {
	Servers []*Server // its members, in the order of their ids
	zk      *zkrun.Ensemble
}

// StartEnsemble starts an ensemble of n members and waits until they have
// elected a leader. It is stopped when the test ends.
func StartEnsemble(t testing.TB, n int) *Ensemble {
	t.Helper()
	ze, err := zkrun.StartEnsemble(context.Background(), t.TempDir(), n, TickTime)
	if err != nil {
		t.Fatalf("zktest: %v", err)
	}
	t.Cleanup(ze.Stop)
	e := &Ensemble{zk: ze}
	for _, zs := range ze.Servers {
		e.Servers = append(e.Servers, &Server{Addr: zs.Addr, t: t, zk: zs})
	}
	return e
}

// Stop stops every member, as a crash of the whole ensemble would.
func (e *Ensemble) Stop() { e.zk.Stop() }

// Start starts the members again, all at once, and waits until they
// answer; with wipe, their data is gone, as if the ensemble were new.
func (e *Ensemble) Start(wipe bool) {
	e.Servers[0].t.Helper()
	if err := e.zk.Start(context.Background(), wipe); err != nil {
		e.Servers[0].t.Fatalf("zktest: %v", err)
	}
}

// Addr is the ensemble's connect string: its members' addresses, comma
// separated, as --zk takes them.
func (e *Ensemble) Addr() string { return strings.Join(e.zk.Addrs(), ",") }

// Leader returns the index in Servers of the member that leads, or -1
// when none does.
func (e *Ensemble) Leader() int { return e.zk.Leader() }

// Proxy forwards TCP connections to a server, and can cut them off: a
// client behind it that is cut off for longer than its session timeout has
// its session expired by the server.
type Proxy struct {
	Addr string // where clients connect

	target string
	ln     net.Listener
	wg     sync.WaitGroup

	mu      sync.Mutex
	blocked bool
	conns   map[net.Conn]bool
}

// NewProxy forwards to target until the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{Addr: ln.Addr().String(), target: target, ln: ln, conns: make(map[net.Conn]bool)}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.Block()
		p.wg.Wait()
	})
	return p
}

// Block cuts the connections off and refuses new ones until Unblock.
func (p *Proxy) Block() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.blocked = true
	for c := range p.conns {
		c.Close()
	}
}

// Unblock lets connections through again.
func (p *Proxy) Unblock() {
	p.mu.Lock()
	p.blocked = false
	p.mu.Unlock()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.blocked {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.DialTimeout("tcp", p.target, time.Second)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

// pipe copies from src to dst until either ends, then closes both.
func (p *Proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}
