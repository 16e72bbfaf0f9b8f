package zkrun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Ensemble is a ZooKeeper ensemble on loopback ports: its members, each a
// Server with a folder of its own, which can be stopped and restarted one
// by one.
type Ensemble struct {
	Servers []*Server
}

// StartEnsemble starts an ensemble of n members in folders of dir, with
// tick as their TickTime (0 for DefaultTickTime), and waits until every
// member answers: until they have elected a leader.
func StartEnsemble(ctx context.Context, dir string, n int, tick time.Duration) (*Ensemble, error) {
	if n < 1 {
		return nil, fmt.Errorf("zkrun: an ensemble of %d", n)
	}
	peers := make([]string, n)
	for i := range peers {
		quorum, err := FreeAddr()
		if err != nil {
			return nil, err
		}
		election, err := FreeAddr()
		if err != nil {
			return nil, err
		}
		peers[i] = quorum + ":" + election[strings.LastIndexByte(election, ':')+1:]
	}
	e := &Ensemble{}
	for i := range n {
		d := filepath.Join(dir, fmt.Sprint("zk", i+1))
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
		s, err := configure(Config{Dir: d, TickTime: tick, Peers: peers, ID: i + 1})
		if err != nil {
			return nil, err
		}
		e.Servers = append(e.Servers, s)
	}
	// All at once: no member answers before a quorum has.
	for _, s := range e.Servers {
		if err := s.launch(); err != nil {
			e.Stop()
			return nil, err
		}
	}
	var errs []error
	for _, s := range e.Servers {
		errs = append(errs, s.wait(ctx))
	}
	if err := errors.Join(errs...); err != nil {
		e.Stop()
		return nil, err
	}
	return e, nil
}

// Addrs returns the members' client addresses, in the order of their ids.
func (e *Ensemble) Addrs() []string {
	addrs := make([]string, len(e.Servers))
	for i, s := range e.Servers {
		addrs[i] = s.Addr
	}
	return addrs
}

// Leader returns the index in Servers of the member that says it leads,
// or -1 when none does.
func (e *Ensemble) Leader() int {
	for i, s := range e.Servers {
		if Mode(s.Addr) == "leader" {
			return i
		}
	}
	return -1
}

// Stop stops every member.
func (e *Ensemble) Stop() {
	for _, s := range e.Servers {
		s.Stop()
	}
}

// Start starts the members again, all at once, on the same ports, as an
// ensemble restarted after an outage, and waits until every member
// answers. With wipe, their data is gone (see [Server.Restart]).
func (e *Ensemble) Start(ctx context.Context, wipe bool) error {
	e.Stop()
	for _, s := range e.Servers {
		if wipe {
			if err := os.RemoveAll(filepath.Join(s.cfg.Dir, "data")); err != nil {
				return err
			}
			if err := writeID(s.cfg); err != nil {
				return err
			}
		}
		if err := s.launch(); err != nil {
			return err
		}
	}
	var errs []error
	for _, s := range e.Servers {
		errs = append(errs, s.wait(ctx))
	}
	return errors.Join(errs...)
}
