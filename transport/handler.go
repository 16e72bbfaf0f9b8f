package transport

import "context"

// A Handler runs the functions a server serves.
//
// Call runs the function name ("namespace/function") with the arguments
// decoded from the request body. Its error chooses the result code, see
// [CodeOf]: wrap ErrNotFound for a missing function, ErrThreadPoolFull when
// the call can't be queued; a cancelled or expired ctx gives CodeCanceled;
// any other error is an exception whose message is err.Error(). ctx carries
// the call's deadline and is cancelled by an interrupt packet or when the
// connection closes. Call is called from many goroutines at once.
//
// Functions lists the served functions whose "namespace/function" name starts
// with prefix, sorted. Meta describes one function.
type Handler interface {
	Call(ctx context.Context, name string, args []any) (any, error)
	Functions(prefix string) []string
	Meta(name string) (FuncMeta, bool)
}

// FuncMeta describes a served function for inspect requests.
type FuncMeta struct {
	Name   string   // "namespace/function"
	Doc    string   // the doc comment, "" if none
	Params []string // parameter names; a variadic function ends with "..."
}

// A Finder is a Handler that tells cheaply whether it serves a function.
// The server and the gateway ask it before decoding a request's arguments,
// so that a call of a missing function is answered not-found without its
// body being decoded. Has must not block or allocate; a function it
// reports may still be gone when Call runs, which then answers not-found.
type Finder interface {
	Handler
	Has(name string) bool
}
