// Package transporttest provides what tests of transport's users share, as
// net/http/httptest does for net/http: a [Handler] with a few Go functions
// under the namespace "t", and [StartServer], which serves a handler on a
// loopback listener until the test ends.
//
//	h := &transporttest.Handler{Release: make(chan struct{})}
//	srv, addr := transporttest.StartServer(t, h, transport.ServerConfig{})
//
// The functions of a Handler:
//
//	t/add         the sum of its integer arguments
//	t/echo        its first argument, nil when it has none
//	t/block       waits for its context to end, and returns its error
//	t/wait        waits for Release to be closed ("released") or its
//	              context to end
//	t/stubborn    waits for Release to be closed, ignoring its context
//	t/big         a string of half a megabyte
//	t/fail        fails with the error "kaboom"
//	t/panic       panics
//	t/busy        fails with transport.ErrThreadPoolFull
//	t/unencodable a result no codec can encode
//
// It lists t/add, t/echo and t/fail as served; any other name fails with
// transport.ErrNotFound.
package transporttest
