// Package client calls functions served by slacker-lua (or any slacker
// server) over slacker's binary protocol, versions 5 and 6.
//
// A [Client] holds one TCP connection to one server and multiplexes every
// call on it: calls carry a transaction id, the server answers them in any
// order, and the client hands each answer to its caller. Arguments and
// results are serialized with the configured content type, JSON (the
// default) or msgpack. The zero [Config] works.
//
//	c, err := client.Dial(ctx, "127.0.0.1:2104", client.Config{})
//	if err != nil {
//		return err
//	}
//	defer c.Close()
//
//	sum, err := client.CallAs[int](ctx, c, "slacker.example.math/add", 1, 2)
//	switch {
//	case errors.Is(err, client.ErrNotFound): // no such function
//	case errors.Is(err, client.ErrException): // the function failed; err has its message
//	case errors.Is(err, context.DeadlineExceeded): // no answer in time
//	}
//
// [Client.Call] returns a [Result], the serialized answer, to decode into any
// type; [CallAs] does both. [Client.Go] starts a call without waiting.
// [Client.Functions] and [Client.Meta] ask the server what it serves.
//
// # Deadlines and cancellation
//
// Every call has a deadline: its ctx's, or [Config.Timeout] from now. In
// version 6 it travels with the call (the deadline extension) so the server
// stops the function in time. When ctx is done before the answer, the call
// returns ctx's error at once and the client sends the server an interrupt
// packet, which cancels the function; a late answer is dropped.
//
// # Errors
//
// The server's refusals and failures are [*RemoteError] values carrying the
// result code; they match [ErrNotFound], [ErrException], [ErrCanceled],
// [ErrThreadPoolFull] and the other code sentinels with errors.Is, which are
// the transport package's own. An exception's Message is the function's
// error text. A RemoteError names the function (its Name), and reads
// "client: slacker.example.api/nope: not found" or "client: NAME:
// exception: MESSAGE"; for the codes whose error packet carries no text,
// its Message says what the client knows of why: a token refused or
// missing for acl-reject, a body over the server's limit for
// invalid-packet (see PROTOCOL.md). A client without Config.TLS whose
// server speaks TLS gets [ErrServerTLS], which says so, rather than a bare
// EOF.
//
// # Connection loss
//
// One goroutine reads the connection and one writes it; the writer sends
// everything queued since its last write in one system call, so calls under
// load share system calls. When the connection breaks, every call waiting
// for an answer fails at once with [ErrConnLost]; the client reconnects in
// the background with capped, jittered exponential backoff, and calls made
// meanwhile fail at once with [ErrNotConnected]. Every error of a call
// that was not sent, whose request was not written in full, matches
// [ErrNotSent]: it did not run. The client never retries a call: whether
// that is safe depends on the function. An idle connection is
// pinged every [Config.PingInterval]; one on which the server stays silent
// for two intervals after a ping is treated as broken.
//
// [Client.Close] fails the waiting calls with [ErrClosed], stops every
// goroutine of the client and waits for them.
//
// # Interceptors
//
// [Config.Interceptors] wrap the calls of a Client made with Call, to
// time, count, log, trace or refuse them. [Interceptor] says which calls
// pass by them.
//
//	timed := func(next client.CallFunc) client.CallFunc {
//		return func(ctx context.Context, name string, args []any) (client.Result, error) {
//			start := time.Now()
//			res, err := next(ctx, name, args)
//			slog.Info("call", "name", name, "took", time.Since(start).String(), "err", err)
//			return res, err
//		}
//	}
//	c, err := client.Dial(ctx, addr, client.Config{Interceptors: []client.Interceptor{timed}})
//
// # Clusters
//
// The client of a slacker cluster, which finds the servers of each
// namespace in ZooKeeper and spreads the calls over them, is package
// cluster's Client. It lives there, with everything else about
// ZooKeeper, so that a program that calls one server links none of it.
// It is a [Caller] too, built on this package's Client, Config, Result,
// errors and interceptors.
//
// # Remote functions
//
// [Func], [Func1] and [Func2] bind a remote function to a Go function
// value, and [NS] a namespace, as slacker's defn-remote and use-remote
// do, over any Caller, so business code calls a remote function as it
// calls a local one:
//
//	add := client.Func2[int, int, int](c, "slacker.example.math/add")
//	sum, err := add(ctx, 1, 2)
package client
