// Package scale measures a slacker-lua cluster at scale on a real
// ZooKeeper ensemble: a 3-member ensemble on loopback ports, N servers
// registering K namespaces each, and M cluster clients calling them. Its
// one test, TestScale, runs a short version (N=10, K=10, M=2) in the
// normal suite, and the full one with flags:
//
//	go test ./tests/scale -run TestScale -timeout 60m -v \
//		-scale.n 10,100,1000 -scale.k 10,100 -scale.clients 10 \
//		-scale.session 10s -scale.out scale.md
//
// The servers are stand-ins, run by a process of their own (the test's
// binary, started again): each is a real cluster.Member, with its own
// ZooKeeper session, and a listener of its own on 127.0.0.1, answering
// the protocol with a Go handler (every namespace's f returns "ok"), not
// Lua: a thousand Lua servers do not fit on a small machine, and what is
// measured is ZooKeeper's side. Killing that process kills every server
// at once, as a mass restart does.
//
// For each N and K it measures, and prints as a Markdown table:
//
//   - the time for the N servers to register (from the process's start
//     to every member's Sync);
//   - the znodes, and the watches ZooKeeper holds (mntr), per server and
//     per client, and a client's heap and goroutines;
//   - a client's first call into a namespace (its look-up);
//   - the time for every client to route a call to a server added
//     (from its member's Sync) and to stop listing one removed;
//   - a mass restart: the servers' process killed and started again at
//     once, on the same addresses;
//   - an ensemble restart past the session timeout, its data kept (the
//     sessions stay), and one with its data wiped (every session is new,
//     and the servers register again within their RejoinJitter);
//
// with, for the restarts, the calls that failed meanwhile, ZooKeeper's
// request rate (the packets its members received in the busiest second)
// and the znodes made in the busiest second.
package scale
