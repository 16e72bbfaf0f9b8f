// Package cluster is slacker-lua's side of Apache ZooKeeper, as slacker
// cluster's: servers register there the namespaces they serve ([Member]),
// and clients find there the servers of a namespace and call them
// ([Client]).
//
// The cluster client lives here, and not in package client, because one
// package owns ZooKeeper: a program that calls one server (client.Dial)
// links none of it. Both sides share one connection type, which outlives
// the ZooKeeper sessions: once it has had no session for longer than the
// session timeout, it is replaced by a new one.
//
// # The layout
//
// Under a root ([DefaultRoot], "/slacker") and the cluster's name:
//
//	<root>/<cluster>/servers                            persistent; data: the address of the server whose data changed last
//	<root>/<cluster>/servers/<host:port>                ephemeral; data: the server, as JSON (ServerData)
//	<root>/<cluster>/namespaces/<ns>                    persistent, one per namespace ever served; data: the address of the server whose data for ns changed last
//	<root>/<cluster>/namespaces/<ns>/<host:port>        ephemeral, one per server serving ns; data: NamespaceData, as JSON
//	<root>/<cluster>/namespaces/<ns>/_leader            persistent, for a stateful namespace
//	<root>/<cluster>/namespaces/<ns>/_leader/n_<seq>    ephemeral sequential, one per server serving ns; data: its address
//
// so that `ls <root>/<cluster>/namespaces` lists the namespaces, and the
// children of one the servers that serve it. Children whose names start
// with "_" are never servers.
//
// # Slacker cluster's layout
//
// Under [SlackerRoot], "/slacker/cluster", or with Layout.Format
// [FormatSlacker], a member writes what the original slacker cluster's
// clients read too, beside the nodes above (those clients ignore
// children starting with "_" and never read a namespace node's data):
//
//	<root>/<cluster>/servers/<host:port>                    data: ServerData as EDN, {:weight 1 :version ".." :started-at #inst ".." ...}
//	<root>/<cluster>/namespaces/<ns>/_leader                persistent, for every namespace; data: the leader's host:port, never missing
//	<root>/<cluster>/namespaces/<ns>/_leader/mutex/_c_<uuid>-lock-<seq>
//	                                                        ephemeral sequential, one per server of ns; data: its address
//	<root>/<cluster>/functions/<ns>/<fn>                    persistent; data: EDN, {:name fn :doc ".." :arglists ([a b])}
//
// The candidates are Curator's lock nodes, as slacker cluster's servers
// stand in their LeaderSelector: the lowest sequence leads, among
// slacker-lua's servers and slacker cluster's alike, and the leader
// writes its address as _leader's data, as theirs do. The nodes of the
// functions are made when a namespace is registered and updated with
// each version; those of functions no server of the namespace lists any
// more are deleted when a version changes or the namespace is
// unregistered, unless a server that lists none (one of slacker
// cluster's) serves it. slacker cluster's servers never delete them.
//
// A [Client] reads both layouts whatever the Format: server data in JSON
// or EDN ([ParseServerData]); the functions of servers that publish no
// namespace data from functions/<ns>; and the leader named by _leader's
// data when there is no slacker-lua candidate ([Server].Leader, which
// [ToLeader] picks).
//
// The data of a namespace's server node says how the namespace runs on
// that server (its version, whether it is stateful or idempotent) and
// lists its functions with their docs and parameters, so that a cluster
// can be inspected without asking each server. It is updated with each
// new version, and goes with the node.
//
// A member that changes the data of one of its nodes (a new version of
// a namespace, a new weight) writes its address as the data of the
// node's parent in the same transaction, so the parent's version counts
// the changes of its children's data. A client watches the parent, not
// each server's node: a namespace it calls costs it three watches (its
// servers, its node's data, _leader's data; four if it is stateful), and
// the servers' data one watch in all, however many servers there are.
// When the parent's version moved by one, the client reads the node of
// the server it names; by more, every node it knows under it. A server
// node deleted and made again between two listings (a take-over, a
// session's expiry) shows as a count of changes of the parent's children
// (its cversion) higher than the listings differ by, and the client reads
// every server's data again.
//
// The leader of a stateful namespace is the server of the candidate with
// the lowest sequence number ([Leader]). A server stands as soon as it
// serves the namespace and withdraws before it stops; when the leader
// dies, its session expires, its candidate goes, and the next one leads.
//
// # Sticky leaders
//
// A stateful namespace's state lives in the leader's Lua VM, so a change
// of leader changes what callers see. Leadership changes only when the
// leader goes, as ZooKeeper's semantics allow:
//
//   - A lost connection resumes its session, however long ZooKeeper was
//     away: ZooKeeper keeps a session, and its ephemeral nodes, until it
//     has heard nothing from the client for the session timeout while it
//     runs, and restarts the timeouts of the sessions it saved when it
//     starts. So an outage or restart of the ensemble, with its data,
//     keeps every candidate where it was. The connection is replaced by a
//     new one only when it has had no session for longer than the timeout
//     and has reached ZooKeeper without getting one for the timeout too
//     (a ZooKeeper that starts accepts connections before it serves
//     them), as an ensemble that lost its data refuses clients that saw
//     more transactions than it has made.
//   - A member whose session expired, and whose candidate of then is
//     still there, held by its earlier session (which ZooKeeper has not
//     expired yet), deletes it and makes it again in its new session under
//     the same name, in one multi-operation: the candidate keeps its
//     sequence number, so its place, and no other candidate leads
//     meanwhile. (A plain ephemeral node may have a sequential node's name;
//     later sequence numbers, from the parent's count of changes, are
//     higher.)
//   - In a new session, a member that stood without leading waits
//     standGrace (2s) from the session's start before it stands again,
//     while one that led stands at once: when every server lost its
//     session together, the leader of before, if it is back within the
//     grace, leads again.
//
// A leader that lost its session while others kept theirs has been
// replaced, and its successor has answered calls: back, it stands last.
//
// # Membership
//
// [Join] makes a [Member]: a server's session with ZooKeeper, which
// registers the server and the namespaces it is told of with
// [Member.Register] and [Member.Unregister]. ZooKeeper trouble never
// stops the server: a Member registers once ZooKeeper can be reached,
// keeps its registrations through lost connections, registers everything
// again in a new session when its session expires (after a random wait
// within MemberConfig.RejoinJitter, 2s by default, unless it led a
// namespace: servers that lost their sessions together come back spread
// out, not as one burst of requests), and takes over nodes of its
// address left by another session, such as an earlier one of its own
// (logged at info level, once for that session) or another's (at warn
// level: another server may be advertising the same address). It makes,
// and takes over, a server's namespace nodes in a few multi-operations of
// up to 512 KiB, not a request or four each.
//
// The loss of the connection is logged at warn level when it happens,
// and its return at info level, with whether the session is the same,
// once each; a Client, whose calls go on with the servers it knows, logs
// them at debug level. A [NewClient] that gets no session within its
// context says why: the last error of each server's dial, such as
// connection refused, with the address.
//
// # ACLs
//
// A member with an identity (MemberConfig.Auth, ZooKeeper's digest scheme)
// gives it to every session, and makes every node it creates, the
// persistent parents from the root down as well as its ephemerals, with
// [Auth.ACL]: all rights to the identity, reading to anyone. Clients read
// the cluster without credentials; a session without the identity can't
// register a server, change a node's data, or delete a node of the
// cluster. The persistent nodes of the cluster (<root>/<cluster>, its
// servers and namespaces nodes, and the node and _leader of every
// namespace, served by the member or not) are protected too when found
// open to writes by anyone, as a server without an identity made them:
// their ACL becomes the member's, once in each session, and the change is
// logged. Ephemeral nodes of other servers are left to go with their
// sessions. A node whose ACL is closed to the world is left as it
// is, whatever identities it names; one open to anyone that the identity
// can't change is logged and left. Nodes above the cluster's (the root,
// such as /slacker) are made with the member's ACL when missing but never
// changed, since clusters of other identities may share them.
//
// Without an identity, nodes are made open to all, as ZooKeeper's own
// default is. A write ZooKeeper refuses for want of rights is logged with
// what to do, and tried again.
//
// # Calling a cluster
//
// [NewClient] makes a [Client], which calls the functions of a cluster: it
// finds the servers of each namespace in ZooKeeper, keeps the list current
// with watches, and spreads the calls over them with a [Picker]: [Random],
// the default, [RoundRobin], [LeastInFlight], [Weighted] or [Address], for
// the whole client or per call with [Client.With]. A stateful namespace's
// calls go to its leader; [Client.CallAll] calls every server. Like
// client.Client, it is a client.Caller, so the remote functions of package
// client bind to it:
//
//	c, err := cluster.NewClient(ctx, cluster.ClientConfig{
//		ZooKeeper: []string{"zk1:2181"},
//		Layout:    cluster.Layout{Cluster: "example-cluster"},
//	})
//	if err != nil { ... }
//	defer c.Close()
//	sum, err := client.CallAs[int](ctx, c, "slacker.example.math/add", 1, 2)
//
// A namespace no server serves is client.ErrNotFound at once. The
// connections to the servers are package client's, configured by
// ClientConfig.Client; the errors of a call are client's, and those of a
// call that failed on a server wrap a *client.ServerError naming it.
package cluster
