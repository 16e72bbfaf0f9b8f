// Package transport speaks slacker's binary protocol, versions 5 and 6: it
// encodes and decodes packets, serializes call arguments and results with a
// codec chosen by the request's content type, and runs the server that
// dispatches calls to a [Handler].
//
// PROTOCOL.md at the root of the module documents every packet as a byte
// layout; the types in this package mirror it one for one.
//
// A packet is a 6-byte header (version u8, transaction id i32, packet type u8,
// big-endian) followed by fields that depend on the packet type. There is no
// length prefix: a frame's size is known only by reading its fields, so every
// length field is checked against [Limits] before anything is allocated.
//
// Serving a handler:
//
//	srv, err := transport.NewServer(handler, transport.ServerConfig{})
//	if err != nil { ... }
//	ln, _ := net.Listen("tcp", "127.0.0.1:2104")
//	go srv.Serve(ln)
//	...
//	srv.Shutdown(ctx)
//
// The transport knows nothing of Lua: a [Handler] is anything that can run a
// named function on decoded arguments and list what it serves. Package
// transporttest has a Handler and a StartServer for the tests of its users.
package transport
