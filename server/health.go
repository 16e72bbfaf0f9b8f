package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slacker-lua/slacker-lua/cluster"
	"github.com/slacker-lua/slacker-lua/namespaces"
)

// health answers the health endpoints, on the HTTP listener and the
// metrics listener alike:
//
//	GET /healthz  200 while the process serves
//	GET /readyz   200 once the namespaces are loaded and, in a cluster,
//	              ZooKeeper has held the server's registrations once;
//	              503 before, and once the server is stopping
//
// The readiness rule: once a server of a cluster has registered and
// serves, a ZooKeeper outage does not make /readyz answer 503. The server
// still serves every call that reaches it, and ZooKeeper is shared by the
// whole fleet: a load balancer that pulled every server whose ZooKeeper
// is gone would pull them all at once. ZooKeeper's trouble is told apart,
// in /metrics (slacker_zookeeper_connected, and the sessions lost) and in
// the "zookeeper" field of the detailed answer.
//
// With ?verbose, either endpoint answers the detailed state as JSON (see
// healthState), with the endpoint's own status.
type health struct {
	reg    *namespaces.Registry
	member *membership // nil outside a cluster
	ready  atomic.Bool // the server serves and is not stopping
}

// readyTimeout bounds how long /readyz waits for ZooKeeper to confirm the
// registrations, before the server has registered once.
const readyTimeout = time.Second

// healthState is the JSON answer of /healthz?verbose and /readyz?verbose.
type healthState struct {
	Ready      bool             `json:"ready"`
	Reason     string           `json:"reason,omitempty"` // why not ready
	Namespaces int              `json:"namespaces"`       // served, the status namespace included
	Failed     int              `json:"failed"`           // files failing to load
	ZooKeeper  *zookeeperHealth `json:"zookeeper,omitempty"`
}

// zookeeperHealth is a server of a cluster's ZooKeeper session.
type zookeeperHealth struct {
	Connected  bool      `json:"connected"`  // the server has a session now
	Since      time.Time `json:"since"`      // when it got it, or lost it
	Registered bool      `json:"registered"` // ZooKeeper has held the registrations once
	Sessions   int64     `json:"sessions"`   // the sessions registered in; more than one means some were lost
}

func (h *health) healthz(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Has("verbose") {
		h.answer(w, http.StatusOK, h.state(""))
		return
	}
	fmt.Fprintln(w, "ok")
}

func (h *health) readyz(w http.ResponseWriter, r *http.Request) {
	reason := h.notReady(r.Context())
	status := http.StatusOK
	if reason != "" {
		status = http.StatusServiceUnavailable
	}
	if r.URL.Query().Has("verbose") {
		h.answer(w, status, h.state(reason))
		return
	}
	if reason != "" {
		http.Error(w, "not ready: "+reason, status)
		return
	}
	fmt.Fprintf(w, "ready: %d namespaces, %d failed\n", len(h.reg.Namespaces()), len(h.reg.Failures()))
}

// notReady says why the server is not ready, "" when it is.
func (h *health) notReady(ctx context.Context) string {
	if !h.ready.Load() {
		return "stopping"
	}
	if h.member == nil || h.member.zk.registered() {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := h.member.m.Sync(ctx); err != nil {
		return "not registered in ZooKeeper yet: " + err.Error()
	}
	h.member.zk.setRegistered()
	return ""
}

// state is the detailed answer, with reason for not being ready.
func (h *health) state(reason string) healthState {
	st := healthState{Ready: reason == "", Reason: reason, Namespaces: len(h.reg.Namespaces()), Failed: len(h.reg.Failures())}
	if h.member != nil {
		st.ZooKeeper = h.member.zk.health(h.member.m)
	}
	return st
}

func (h *health) answer(w http.ResponseWriter, status int, st healthState) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(st)
}

// zkWatch follows a member's ZooKeeper connection, for the health
// endpoints and the metrics: whether it is connected, since when, how
// often it was lost, and whether ZooKeeper has held the registrations
// once. The member tells nothing of its session's changes, so the watch
// looks at it each zkWatchEvery, until stop.
type zkWatch struct {
	mu             sync.Mutex
	connected      bool
	since          time.Time
	losses         int64 // connected, then not
	registeredOnce bool

	done    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

// zkWatchEvery is how often a zkWatch looks at the connection.
const zkWatchEvery = 100 * time.Millisecond

// watchZooKeeper starts following m's connection.
func watchZooKeeper(m *cluster.Member) *zkWatch {
	zw := &zkWatch{since: time.Now(), done: make(chan struct{}), stopped: make(chan struct{})}
	go zw.loop(m)
	return zw
}

func (zw *zkWatch) loop(m *cluster.Member) {
	defer close(zw.stopped)
	tick := time.NewTicker(zkWatchEvery)
	defer tick.Stop()
	// A context already done: Sync then only checks whether ZooKeeper
	// holds the registrations, without waiting.
	now, cancel := context.WithCancel(context.Background())
	cancel()
	for {
		zw.look(m)
		if !zw.registered() && m.Sync(now) == nil {
			zw.setRegistered()
		}
		select {
		case <-tick.C:
		case <-zw.done:
			return
		}
	}
}

// look records the connection's state, and when it changed.
func (zw *zkWatch) look(m *cluster.Member) {
	c := m.Connected()

	zw.mu.Lock()
	defer zw.mu.Unlock()
	if c != zw.connected {
		if zw.connected {
			zw.losses++
		}
		zw.connected, zw.since = c, time.Now()
	}
}

func (zw *zkWatch) registered() bool {
	zw.mu.Lock()
	defer zw.mu.Unlock()
	return zw.registeredOnce
}

func (zw *zkWatch) setRegistered() {
	zw.mu.Lock()
	zw.registeredOnce = true
	zw.mu.Unlock()
}

// lost counts the times the connection was lost.
func (zw *zkWatch) lost() int64 {
	zw.mu.Lock()
	defer zw.mu.Unlock()
	return zw.losses
}

// health is the connection's state, for the detailed health answer.
func (zw *zkWatch) health(m *cluster.Member) *zookeeperHealth {
	zw.look(m)
	zw.mu.Lock()
	defer zw.mu.Unlock()
	return &zookeeperHealth{Connected: zw.connected, Since: zw.since.UTC(), Registered: zw.registeredOnce, Sessions: m.Sessions()}
}

// stop stops the watch; it may be called more than once.
func (zw *zkWatch) stop() {
	zw.once.Do(func() { close(zw.done) })
	<-zw.stopped
}
