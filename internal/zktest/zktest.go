// Package zktest starts real Apache ZooKeeper servers for tests, each on a
// free loopback port with a data folder of its own. It needs the jars of
// Debian's zookeeper package, which scripts/install-deps installs;
// without them a test fails, naming that step.
package zktest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Jar is the ZooKeeper server's jar, whose manifest names the jars it
// needs.
const Jar = "/usr/share/java/zookeeper.jar"

// TickTime is the servers' tick: sessions may last from 2 to 20 ticks.
const TickTime = 500 * time.Millisecond

// Server is a standalone ZooKeeper server run by a test.
type Server struct {
	Addr string // host:port of its client port

	t    testing.TB
	dir  string // the data folder and the configuration
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Start starts a ZooKeeper server and waits until it answers. It is
// stopped when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	if _, err := os.Stat(Jar); err != nil {
		t.Fatalf("zktest: %s is missing: run scripts/install-deps (as make test does) to install Debian's zookeeper package", Jar)
	}
	s := &Server{t: t, dir: t.TempDir(), Addr: freeAddr(t)}
	_, port, _ := net.SplitHostPort(s.Addr)
	cfg := strings.Join([]string{
		"tickTime=" + fmt.Sprint(TickTime.Milliseconds()),
		"dataDir=" + filepath.Join(s.dir, "data"),
		"clientPort=" + port,
		"clientPortAddress=127.0.0.1",
		"admin.enableServer=false",
		"4lw.commands.whitelist=srvr",
		"",
	}, "\n")
	if err := os.WriteFile(filepath.Join(s.dir, "zoo.cfg"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	s.start()
	return s
}

// Stop stops the server, as a crash would: at once. Stop may be called
// more than once.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Restart starts the stopped server again, on the same port. With wipe,
// its data is gone, as if the ensemble were new. (ZooKeeper then refuses
// the clients that saw the old data's transactions, until it has as many
// of its own.)
func (s *Server) Restart(wipe bool) {
	s.t.Helper()
	s.Stop()
	if wipe {
		if err := os.RemoveAll(filepath.Join(s.dir, "data")); err != nil {
			s.t.Fatal(err)
		}
	}
	s.start()
}

func (s *Server) start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	cmd := exec.Command("java", "-Xmx256m", "-cp", Jar, "org.apache.zookeeper.server.quorum.QuorumPeerMain", "zoo.cfg")
	cmd.Dir = s.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // killed with the test binary
	log, err := os.Create(filepath.Join(s.dir, "zookeeper.log"))
	if err != nil {
		s.t.Fatal(err)
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("zktest: starting ZooKeeper: %v", err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func(done chan struct{}) { cmd.Wait(); close(done) }(s.done)

	deadline := time.Now().Add(30 * time.Second)
	for !s.answers() {
		select {
		case <-s.done:
			out, _ := os.ReadFile(filepath.Join(s.dir, "zookeeper.log"))
			s.t.Fatalf("zktest: ZooKeeper exited:\n%s", out)
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("zktest: ZooKeeper did not answer on %s in 30s", s.Addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// answers reports whether the server answers the srvr command as serving.
func (s *Server) answers() bool {
	c, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("srvr")); err != nil {
		return false
	}
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "Mode: ") {
			return true
		}
	}
	return false
}

// freeAddr returns a loopback address with a port free at the moment.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

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
