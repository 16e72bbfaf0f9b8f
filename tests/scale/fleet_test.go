package scale

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/cluster"
	"github.com/slacker-lua/slacker-lua/transport"
)

// fleetEnv names the variable that makes the test binary a fleet of
// stand-in servers: its value is the fleetConfig, as JSON.
const fleetEnv = "SLACKER_SCALE_FLEET"

func TestMain(m *testing.M) {
	if cfg := os.Getenv(fleetEnv); cfg != "" {
		if err := runFleet(cfg, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "fleet:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// fleetConfig configures a fleet.
type fleetConfig struct {
	ZooKeeper      []string
	Cluster        string
	Addrs          []string // the servers' addresses; N loopback ports when empty
	N, K           int      // servers, and namespaces each
	SessionTimeout time.Duration
	RejoinJitter   time.Duration
}

// fleetReady is what a fleet prints once every server has registered.
type fleetReady struct {
	Addrs  []string
	Synced []time.Duration // from the process's start to each member's Sync
}

// fleetStatus is the fleet's answer to "status".
type fleetStatus struct {
	Connected int   // members with a session
	Sessions  int64 // sessions made, all members
}

// fleetLog is the members' logger: stderr at debug level with
// SLACKER_SCALE_LOG=1, else none.
var fleetLog = func() *slog.Logger {
	if os.Getenv("SLACKER_SCALE_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}()

// handler answers every namespace's f with "ok".
type handler struct{}

func (handler) Call(ctx context.Context, name string, args []any) (any, error) {
	if strings.HasSuffix(name, "/f") {
		return "ok", nil
	}
	return nil, transport.ErrNotFound
}
func (handler) Functions(prefix string) []string            { return nil }
func (handler) Meta(name string) (transport.FuncMeta, bool) { return transport.FuncMeta{}, false }

// nsName names the j-th namespace.
func nsName(j int) string { return fmt.Sprintf("scale.ns%d", j) }

// namespaceData is what the stand-ins publish for each namespace.
var namespaceData = cluster.NamespaceData{Version: "1", Functions: []cluster.Function{{Name: "f"}}}

// standIns serves handler on a listener for each of addrs (n loopback
// ports if addrs is empty), and returns the server and the addresses.
func standIns(addrs []string, n int) (*transport.Server, []string, error) {
	srv, err := transport.NewServer(handler{}, transport.ServerConfig{})
	if err != nil {
		return nil, nil, err
	}
	if len(addrs) == 0 {
		addrs = slices.Repeat([]string{"127.0.0.1:0"}, n)
	}
	var got []string
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			srv.Close()
			return nil, nil, err
		}
		got = append(got, ln.Addr().String())
		go srv.Serve(ln) // ends with srv.Close
	}
	return srv, got, nil
}

// joinAll joins a member for each address, registers k namespaces with
// each, and waits for every Sync, all at once; it returns the members
// and, for each, the time from start to its Sync.
func joinAll(ctx context.Context, cfg fleetConfig, addrs []string, start time.Time) ([]*cluster.Member, []time.Duration, error) {
	members := make([]*cluster.Member, len(addrs))
	synced := make([]time.Duration, len(addrs))
	errs := make([]error, len(addrs))
	var wg sync.WaitGroup
	for i, addr := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := cluster.Join(cluster.MemberConfig{
				ZooKeeper: cfg.ZooKeeper, Layout: cluster.Layout{Cluster: cfg.Cluster}, Addr: addr,
				Version: "scale", SessionTimeout: cfg.SessionTimeout, RejoinJitter: cfg.RejoinJitter,
				Logger: fleetLog,
			})
			if err != nil {
				errs[i] = err
				return
			}
			members[i] = m
			for j := range cfg.K {
				if err := m.Register(nsName(j), namespaceData); err != nil {
					errs[i] = err
					return
				}
			}
			errs[i] = m.Sync(ctx)
			synced[i] = time.Since(start)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, m := range members {
			if m != nil {
				m.Close()
			}
		}
		return nil, nil, err
	}
	return members, synced, nil
}

// runFleet is the fleet process: it serves and registers the stand-ins,
// prints a fleetReady line, then answers the commands read from in, one a
// line ("status", "sync"), until in ends.
func runFleet(config string, in io.Reader, out io.Writer) error {
	start := time.Now()
	var cfg fleetConfig
	if err := json.Unmarshal([]byte(config), &cfg); err != nil {
		return err
	}
	srv, addrs, err := standIns(cfg.Addrs, cfg.N)
	if err != nil {
		return err
	}
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	members, synced, err := joinAll(ctx, cfg, addrs, start)
	if err != nil {
		return err
	}
	defer func() {
		for _, m := range members {
			m.Close()
		}
	}()
	enc := json.NewEncoder(out)
	if err := enc.Encode(fleetReady{Addrs: addrs, Synced: synced}); err != nil {
		return err
	}
	lines := bufio.NewScanner(in)
	for lines.Scan() {
		switch lines.Text() {
		case "status":
			var st fleetStatus
			for _, m := range members {
				if m.Connected() {
					st.Connected++
				}
				st.Sessions += m.Sessions()
			}
			err = enc.Encode(st)
		case "sync":
			begin := time.Now()
			for _, m := range members {
				if err := m.Sync(ctx); err != nil {
					return err
				}
			}
			err = enc.Encode(time.Since(begin))
		default:
			err = fmt.Errorf("unknown command %q", lines.Text())
		}
		if err != nil {
			return err
		}
	}
	return lines.Err()
}

// fleet is a running fleet process, seen from the test.
type fleet struct {
	t     *testing.T
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *json.Decoder
	ready fleetReady
	began time.Time
}

// startFleet starts a fleet process and waits until it is ready.
func startFleet(t *testing.T, cfg fleetConfig) *fleet {
	t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^$")
	cmd.Env = append(os.Environ(), fleetEnv+"="+string(b))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	f := &fleet{t: t, cmd: cmd, in: in, out: json.NewDecoder(out), began: time.Now()}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.kill)
	f.read(&f.ready)
	return f
}

// read decodes the fleet's next line into v.
func (f *fleet) read(v any) {
	f.t.Helper()
	if err := f.out.Decode(v); err != nil {
		f.kill()
		f.t.Fatalf("the fleet's answer: %v", err)
	}
}

// ask sends the fleet the command cmd and decodes its answer into v.
func (f *fleet) ask(cmd string, v any) {
	f.t.Helper()
	if _, err := fmt.Fprintln(f.in, cmd); err != nil {
		f.t.Fatalf("asking the fleet %s: %v", cmd, err)
	}
	f.read(v)
}

// kill kills the fleet's process, as a crash of every server would, and
// waits for it. It may be called more than once.
func (f *fleet) kill() {
	if f.cmd.ProcessState == nil {
		f.cmd.Process.Kill()
		f.cmd.Wait()
	}
}
