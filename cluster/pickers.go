package cluster

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/slacker-lua/slacker-lua/client"
)

// Server is a server of a namespace, as a [Client] knows it from
// ZooKeeper.
type Server struct {
	Addr string
	// Namespace is the namespace as that server runs it.
	Namespace NamespaceData
	// Leader says the server leads the namespace, a stateful one.
	Leader bool

	peer *peer
}

// serves reports whether s has the function fn, as far as its data says:
// when the data lists no functions (a server that publishes none) or
// only some, it may.
func (s Server) serves(fn string) bool {
	d := s.Namespace
	if d.Functions == nil || d.Truncated {
		return true
	}
	_, ok := slices.BinarySearchFunc(d.Functions, fn, func(f Function, fn string) int { return strings.Compare(f.Name, fn) })
	return ok
}

// Data returns the server's data, as it published it; the zero ServerData
// until the client has read it.
func (s Server) Data() ServerData {
	if s.peer != nil {
		if d := s.peer.data.Load(); d != nil {
			return *d
		}
	}
	return ServerData{}
}

// Weight returns the server's weight, from its data: 1 until the client
// has read it.
func (s Server) Weight() int {
	if w := s.Data().Weight; w > 0 {
		return w
	}
	return 1
}

// InFlight returns the number of calls this client has made to the server
// that have not ended yet.
func (s Server) InFlight() int {
	if s.peer == nil {
		return 0
	}
	return int(s.peer.inFlight.Load())
}

// Picker chooses the server of a call among those of its namespace that
// have its function, sorted by address and never empty; the slice is
// shared, and must not be modified. It is called from many goroutines at
// once. A stateful namespace's calls go to its leader, without asking the
// Picker.
type Picker interface {
	Pick(servers []Server) (Server, error)
}

// Random picks a server at random: the default.
type Random struct{}

func (Random) Pick(servers []Server) (Server, error) {
	return servers[rand.IntN(len(servers))], nil
}

// RoundRobin picks the servers in turn. Its zero value is ready to use;
// share one between calls.
type RoundRobin struct{ n atomic.Uint64 }

func (r *RoundRobin) Pick(servers []Server) (Server, error) {
	return servers[(r.n.Add(1)-1)%uint64(len(servers))], nil
}

// LeastInFlight picks the server with the fewest calls in flight from
// this client, one at random among those tied.
type LeastInFlight struct{}

func (LeastInFlight) Pick(servers []Server) (Server, error) {
	best, least, n := 0, 0, 0
	for i, s := range servers {
		switch f := s.InFlight(); {
		case i == 0 || f < least:
			best, least, n = i, f, 1
		case f == least:
			// Reservoir sampling: each tied server is as likely.
			if n++; rand.IntN(n) == 0 {
				best = i
			}
		}
	}
	return servers[best], nil
}

// Weighted picks a server at random, each in proportion to its weight
// (ServerData.Weight, set with serve --weight).
type Weighted struct{}

func (Weighted) Pick(servers []Server) (Server, error) {
	total := 0
	for _, s := range servers {
		total += s.Weight()
	}
	n := rand.IntN(total)
	for _, s := range servers {
		if n -= s.Weight(); n < 0 { // weights change meanwhile: then the last
			return s, nil
		}
	}
	return servers[len(servers)-1], nil
}

// Address picks the server at that address, "host:port", and fails with
// [client.ErrNotFound] when it does not serve the namespace. Like every
// Picker, it does not choose the server of a stateful namespace's calls:
// they go to its leader.
type Address string

func (a Address) Pick(servers []Server) (Server, error) {
	for _, s := range servers {
		if s.Addr == string(a) {
			return s, nil
		}
	}
	return Server{}, fmt.Errorf("%w: %s does not serve it", client.ErrNotFound, string(a))
}

// ToLeader picks the namespace's leader, as slacker cluster's :leader
// grouping does: the server named by the data of the namespace's _leader
// node (see [Server].Leader), whether or not the namespace is stateful;
// the first server while none leads.
type ToLeader struct{}

func (ToLeader) Pick(servers []Server) (Server, error) {
	for _, s := range servers {
		if s.Leader {
			return s, nil
		}
	}
	return servers[0], nil
}
