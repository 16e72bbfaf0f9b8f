package client

import "context"

// CallFunc makes one call, as [Client.Call] does.
type CallFunc func(ctx context.Context, name string, args []any) (Result, error)

// An Interceptor wraps a client's calls: to count them, time them, log
// them, add to their context or refuse them. It returns the CallFunc that
// runs in next's place, which calls next to go on with the call.
//
// [Config.Interceptors] see every call made with [Client.Call] (and so
// with CallAs and the remote functions), one call per server a
// [Cluster] tries. [ClusterConfig.Interceptors] see each call made with
// [Cluster.Call] once, however many servers it is tried on. Calls started
// with [Client.Go] and [Cluster.CallAll] pass by them.
type Interceptor func(next CallFunc) CallFunc

// chain returns call made through ics: the first is the outermost, the
// first to see a call and the last to see its result. It returns nil when
// there is no interceptor.
func chain(call CallFunc, ics []Interceptor) CallFunc {
	if len(ics) == 0 {
		return nil
	}
	for i := len(ics) - 1; i >= 0; i-- {
		call = ics[i](call)
	}
	return call
}
