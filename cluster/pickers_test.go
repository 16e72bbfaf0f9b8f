package cluster

import (
	"errors"
	"strings"
	"testing"

	"github.com/slacker-lua/slacker-lua/client"
)

// servers makes Servers of the addresses, with their weights and calls in
// flight.
func servers(addrs []string, weights, inFlight []int) []Server {
	out := make([]Server, len(addrs))
	for i, a := range addrs {
		p := &peer{addr: a}
		if weights != nil {
			p.data.Store(&ServerData{Weight: weights[i]})
		}
		if inFlight != nil {
			p.inFlight.Store(int64(inFlight[i]))
		}
		out[i] = Server{Addr: a, peer: p}
	}
	return out
}

// picks counts the picks of p among s in n picks, by address.
func picks(t *testing.T, p Picker, s []Server, n int) map[string]int {
	t.Helper()
	got := make(map[string]int)
	for range n {
		x, err := p.Pick(s)
		if err != nil {
			t.Fatal(err)
		}
		got[x.Addr]++
	}
	return got
}

func TestPickers(t *testing.T) {
	addrs := []string{"a:1", "b:1", "c:1"}
	var rr RoundRobin
	var got []string
	for range 6 {
		s, err := rr.Pick(servers(addrs, nil, nil))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, s.Addr)
	}
	if strings.Join(got, " ") != "a:1 b:1 c:1 a:1 b:1 c:1" {
		t.Fatalf("round robin: %v", got)
	}
	if got := picks(t, Random{}, servers(addrs, nil, nil), 300); len(got) != 3 {
		t.Fatalf("random picked %v", got)
	}
	// Weights 1, 0 (which counts as 1, as for a server not read yet) and 8.
	got2 := picks(t, Weighted{}, servers(addrs, []int{1, 0, 8}, nil), 10000)
	if got2["c:1"] < 7500 || got2["c:1"] > 8500 || got2["a:1"] < 700 || got2["b:1"] < 700 {
		t.Fatalf("weighted 1, 1, 8: %v", got2)
	}
	if got := picks(t, LeastInFlight{}, servers(addrs, nil, []int{3, 1, 2}), 50); got["b:1"] != 50 {
		t.Fatalf("least in flight of 3, 1, 2: %v", got)
	}
	if got := picks(t, LeastInFlight{}, servers(addrs, nil, []int{1, 4, 1}), 300); got["a:1"] < 100 || got["c:1"] < 100 || got["b:1"] != 0 {
		t.Fatalf("least in flight of 1, 4, 1: %v", got)
	}
	if got := picks(t, Address("b:1"), servers(addrs, nil, nil), 5); got["b:1"] != 5 {
		t.Fatalf("address b:1: %v", got)
	}
	if _, err := Address("d:1").Pick(servers(addrs, nil, nil)); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("address of no server: %v", err)
	}
}
