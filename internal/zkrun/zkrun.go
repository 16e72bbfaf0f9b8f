// Package zkrun runs Apache ZooKeeper servers from the jars of Debian's
// zookeeper package (/usr/share/java), standalone or as an ensemble, each
// on loopback ports with a data folder of its own: what tests
// (internal/zktest) and `slacker-lua dev` start. It is no way to run ZooKeeper in production;
// CLUSTER.md's "Running ZooKeeper" is.
package zkrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Jar is the ZooKeeper server's jar, whose manifest names the jars it
// needs.
const Jar = "/usr/share/java/zookeeper.jar"

// ErrNoZooKeeper: Jar, or java, is missing.
var ErrNoZooKeeper = errors.New("ZooKeeper is not installed: run scripts/install-deps, or apt-get install zookeeper, for " + Jar + " and java")

// DefaultTickTime is the default of Config.TickTime, ZooKeeper's own.
const DefaultTickTime = 2 * time.Second

// DefaultStartTimeout is the default of Config.StartTimeout.
const DefaultStartTimeout = 30 * time.Second

// Config configures a [Server]. Dir is required; the other fields' zero
// values work.
type Config struct {
	// Dir is the folder of the server's zoo.cfg, data (Dir/data) and log
	// (Dir/zookeeper.log). It must exist. Required.
	Dir string
	// Addr is the client port's address, 127.0.0.1:port. "" picks a free
	// port on 127.0.0.1.
	Addr string
	// TickTime is ZooKeeper's tick: sessions may last from 2 to 20 ticks.
	// 0 means DefaultTickTime.
	TickTime time.Duration
	// StartTimeout is how long Start and Restart wait for the server to
	// answer. 0 means DefaultStartTimeout.
	StartTimeout time.Duration

	// Peers, when set, makes the server member ID (1-based) of an
	// ensemble: Peers are every member's quorum and election addresses,
	// "127.0.0.1:port:port", in the order of their IDs. StartEnsemble
	// sets them.
	Peers []string
	ID    int
}

// Server is a ZooKeeper server, standalone or a member of an ensemble.
// Its methods are safe for concurrent use.
type Server struct {
	Addr string // host:port of its client port

	cfg  Config
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Start writes the server's zoo.cfg in cfg.Dir, starts it and waits until
// it answers, as long as ctx allows. The server is killed with the
// process that started it (Linux's parent-death signal), so that it never
// outlives it.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	s, err := configure(cfg)
	if err != nil {
		return nil, err
	}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// configure checks cfg, sets its defaults and writes the server's zoo.cfg
// (and, in an ensemble, its myid).
func configure(cfg Config) (*Server, error) {
	if _, err := os.Stat(Jar); err != nil {
		return nil, ErrNoZooKeeper
	}
	if _, err := exec.LookPath("java"); err != nil {
		return nil, ErrNoZooKeeper
	}
	if cfg.Dir == "" {
		return nil, errors.New("zkrun: Config.Dir is required")
	}
	if cfg.TickTime == 0 {
		cfg.TickTime = DefaultTickTime
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	if cfg.Addr == "" {
		addr, err := FreeAddr()
		if err != nil {
			return nil, err
		}
		cfg.Addr = addr
	}
	_, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("zkrun: Config.Addr %q: %w", cfg.Addr, err)
	}
	data := filepath.Join(cfg.Dir, "data")
	lines := []string{
		"tickTime=" + fmt.Sprint(cfg.TickTime.Milliseconds()),
		"dataDir=" + data,
		"clientPort=" + port,
		"clientPortAddress=127.0.0.1",
		"admin.enableServer=false",
		"4lw.commands.whitelist=srvr,mntr,wchs,wchp",
		"maxClientCnxns=0", // every session a test makes comes from 127.0.0.1
	}
	if len(cfg.Peers) > 0 {
		if cfg.ID < 1 || cfg.ID > len(cfg.Peers) {
			return nil, fmt.Errorf("zkrun: Config.ID %d of %d peers", cfg.ID, len(cfg.Peers))
		}
		lines = append(lines, "initLimit=10", "syncLimit=5")
		for i, p := range cfg.Peers {
			lines = append(lines, fmt.Sprintf("server.%d=%s", i+1, p))
		}
		if err := writeID(cfg); err != nil {
			return nil, err
		}
	}
	zoo := strings.Join(append(lines, ""), "\n")
	if err := os.WriteFile(filepath.Join(cfg.Dir, "zoo.cfg"), []byte(zoo), 0o644); err != nil {
		return nil, err
	}
	return &Server{Addr: cfg.Addr, cfg: cfg}, nil
}

// Pid returns the process id of the running server; 0 if it is stopped.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Log returns what the server has logged, from Dir/zookeeper.log.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.cfg.Dir, "zookeeper.log"))
	return string(b)
}

// Stop stops the server, as a crash would: at once, and waits until it
// has exited. Stop may be called more than once.
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

// Restart starts the stopped server again, on the same ports. With wipe,
// its data is gone, as if the ensemble were new. (ZooKeeper then refuses
// the clients that saw the old data's transactions, until it has as many
// of its own.) A member of an ensemble keeps its id.
func (s *Server) Restart(ctx context.Context, wipe bool) error {
	s.Stop()
	if wipe {
		data := filepath.Join(s.cfg.Dir, "data")
		if err := os.RemoveAll(data); err != nil {
			return err
		}
		if len(s.cfg.Peers) > 0 {
			if err := writeID(s.cfg); err != nil {
				return err
			}
		}
	}
	return s.start(ctx)
}

// writeID writes the myid of a member of an ensemble in its data folder.
func writeID(cfg Config) error {
	data := filepath.Join(cfg.Dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(data, "myid"), []byte(fmt.Sprintln(cfg.ID)), 0o644)
}

func (s *Server) start(ctx context.Context) error {
	if err := s.launch(); err != nil {
		return err
	}
	return s.wait(ctx)
}

// launch starts the server's process.
func (s *Server) launch() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cmd := exec.Command("java", "-Xmx256m", "-cp", Jar, "org.apache.zookeeper.server.quorum.QuorumPeerMain", "zoo.cfg")
	cmd.Dir = s.cfg.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // killed with its parent
	log, err := os.Create(filepath.Join(s.cfg.Dir, "zookeeper.log"))
	if err != nil {
		return err
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting ZooKeeper: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	return nil
}

// wait waits until the launched server answers; it stops the server when
// it does not within StartTimeout or ctx.
func (s *Server) wait(ctx context.Context) error {
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.StartTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !Answers(s.Addr) {
		select {
		case <-done:
			s.Stop()
			return fmt.Errorf("ZooKeeper exited before it answered on %s:\n%s", s.Addr, s.Log())
		case <-ctx.Done():
			s.Stop()
			return fmt.Errorf("ZooKeeper did not answer on %s: %w", s.Addr, ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

// Mode returns the mode the ZooKeeper at addr says it serves in
// ("leader", "follower", "standalone"), or "" when it does not serve.
func Mode(addr string) string {
	out, err := FourLetter(addr, "srvr")
	if err != nil {
		return ""
	}
	for line := range strings.Lines(out) {
		if mode, ok := strings.CutPrefix(strings.TrimSpace(line), "Mode: "); ok {
			return mode
		}
	}
	return ""
}

// FourLetter sends ZooKeeper's four-letter command cmd (srvr, mntr, wchs
// and wchp are allowed by the servers zkrun starts) to the server at addr
// and returns its answer.
func FourLetter(addr, cmd string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte(cmd)); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	return string(b), err
}

// Answers reports whether the ZooKeeper at addr answers the srvr command
// as serving.
func Answers(addr string) bool { return Mode(addr) != "" }

// FreeAddr returns a loopback address with a port free at the moment.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
