// Package probe is the comparison's practical-limit probe: the least a
// request-response protocol over one TCP connection can do, to show how
// close the systems compared come to what the machine allows. It has no
// serialization, no dispatch by name and no per-call goroutine; both sides
// coalesce their writes: a writer goroutine drains everything queued since
// its last write into one system call.
//
// # Wire format
//
// Requests and replies are frames of the same shape, back to back, all
// integers big-endian:
//
//	| offset | size | field                                            |
//	|--------|------|--------------------------------------------------|
//	| 0      | 4    | size: bytes of body, u32, at most MaxBody        |
//	| 4      | 4    | id: chosen by the client, copied into the reply  |
//	| 8      | 1    | op: OpAdd or OpEcho; in a reply OpOK or OpError  |
//	| 9      | size | body                                             |
//
// Bodies by op:
//
//	| op      | request body             | reply body (OpOK)  |
//	|---------|--------------------------|--------------------|
//	| OpAdd   | a i64, b i64 (16 bytes)  | a+b i64 (8 bytes)  |
//	| OpEcho  | any bytes                | the same bytes     |
//
// An OpError reply's body is a message in UTF-8. The server answers each
// request in the order it came; the client matches replies by id all the
// same.
//
// Serving, and calling:
//
//	srv := &probe.Server{} // add and echo in Go; Lua: true runs them in gopher-lua
//	go srv.Serve(ln)
//	defer srv.Close()
//	c, err := probe.Dial(ctx, ln.Addr().String())
//	if err != nil { ... }
//	defer c.Close()
//	sum, err := c.Add(ctx, 1, 2)
package probe
