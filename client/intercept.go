package client

import "context"

// CallFunc makes one call, as [Client.Call] does.
type CallFunc func(ctx context.Context, name string, args []any) (Result, error)

// An Interceptor wraps a client's calls: to count them, time them, log
// them, add to their context or refuse them. It returns the CallFunc that
// runs in next's place, which calls next to go on with the call.
//
// [Config.Interceptors] see every call made with [Client.Call] (and so
// with CallAs and the remote functions), but not those started with
// [Client.Go]. In the Client config of a cluster client (package
// cluster), they see each try of a call on a server, a broadcast's try
// on each server included. The cluster client's own interceptors see
// each of its calls once, however many servers it is tried on, with the
// call's deadline set; broadcasts pass by them.
//
// args may be passed to next again, for another server: an interceptor
// that changes the arguments passes a new slice, not args changed in
// place.
type Interceptor func(next CallFunc) CallFunc

// Chain returns call made through ics: the first is the outermost, the
// first to see a call and the last to see its result. With no
// interceptor, it is call.
func Chain(call CallFunc, ics []Interceptor) CallFunc {
	for i := len(ics) - 1; i >= 0; i-- {
		call = ics[i](call)
	}
	return call
}
