package probe

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// Server answers probe requests. Its zero value serves add and echo in
// Go. The reader goroutine of each connection answers each request as it
// reads it, with no goroutine per call, and queues the reply for the
// connection's writer goroutine.
type Server struct {
	// Lua, if set, runs add and echo as Lua functions in gopher-lua, one
	// VM per connection. The default, false, runs them in Go.
	Lua bool

	compile  sync.Once
	proto    *lua.FunctionProto
	protoErr error

	mu     sync.Mutex
	closed bool
	lns    map[net.Listener]struct{}
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup // the connections' goroutines
}

// benchLua is the Lua of the gopher-lua probe, the same as the
// slacker-lua server's.
const benchLua = `function add(a, b) return a + b end
function echo(s) return s end
`

// Serve accepts connections on ln until Close, and then returns
// ErrServerClosed. It closes ln.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	if s.lns == nil {
		s.lns = map[net.Listener]struct{}{}
		s.conns = map[net.Conn]struct{}{}
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.lns, ln)
		s.mu.Unlock()
		ln.Close()
	}()
	for {
		c, err := ln.Accept()
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			if c != nil {
				c.Close()
			}
			return ErrServerClosed
		}
		if err != nil {
			s.mu.Unlock()
			return err
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

// Close stops the listeners, closes the connections and waits for their
// goroutines. It can be called twice.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *Server) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	h, err := s.newHandler()
	if err != nil {
		return
	}
	defer h.close()

	ob := newOutbox()
	quit := make(chan struct{})
	wdone := make(chan struct{})
	go func() {
		defer close(wdone)
		if ob.run(c, quit) != nil {
			c.Close() // and the reader stops
		}
	}()
	defer func() { close(quit); <-wdone }()

	r := bufio.NewReaderSize(c, 64<<10)
	var (
		hdr         Header
		body, reply []byte
	)
	for {
		if body, err = ReadFrame(r, &hdr, body); err != nil {
			return
		}
		var op byte
		reply, op = h.answer(reply[:0], hdr.Op(), body)
		ob.mu.Lock()
		ob.buf = AppendFrame(ob.buf, hdr.ID(), op, reply)
		ob.mu.Unlock()
		ob.signal()
	}
}

// A handler answers the requests of one connection, from its reader
// goroutine: it need not be safe for concurrent use.
type handler interface {
	// answer appends the body of the reply to a request to dst, and
	// returns it with the reply's op.
	answer(dst []byte, op byte, body []byte) ([]byte, byte)
	close()
}

func (s *Server) newHandler() (handler, error) {
	if !s.Lua {
		return goHandler{}, nil
	}
	s.compile.Do(func() {
		chunk, err := parse.Parse(strings.NewReader(benchLua), "bench.lua")
		if err != nil {
			s.protoErr = err
			return
		}
		s.proto, s.protoErr = lua.Compile(chunk, "bench.lua")
	})
	if s.protoErr != nil {
		return nil, s.protoErr
	}
	return newLuaHandler(s.proto)
}

func errorReply(dst []byte, format string, args ...any) ([]byte, byte) {
	return fmt.Appendf(dst, format, args...), OpError
}

// goHandler does the work in Go.
type goHandler struct{}

func (goHandler) answer(dst []byte, op byte, body []byte) ([]byte, byte) {
	switch op {
	case OpAdd:
		a, b, ok := addArgs(body)
		if !ok {
			return errorReply(dst, "add: want %d bytes, got %d", addSize, len(body))
		}
		return appendInt64(dst, a+b), OpOK
	case OpEcho:
		return append(dst, body...), OpOK
	}
	return errorReply(dst, "unknown op %d", op)
}

func (goHandler) close() {}

// luaHandler does the work in its own gopher-lua VM, with the compiled
// chunk loaded into it once.
type luaHandler struct {
	L         *lua.LState
	add, echo *lua.LFunction
}

func newLuaHandler(proto *lua.FunctionProto) (*luaHandler, error) {
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	L.Push(L.NewFunctionFromProto(proto))
	if err := L.PCall(0, 0, nil); err != nil {
		L.Close()
		return nil, err
	}
	add, ok1 := L.GetGlobal("add").(*lua.LFunction)
	echo, ok2 := L.GetGlobal("echo").(*lua.LFunction)
	if !ok1 || !ok2 {
		L.Close()
		return nil, errors.New("probe: bench.lua lacks add or echo")
	}
	return &luaHandler{L: L, add: add, echo: echo}, nil
}

func (h *luaHandler) answer(dst []byte, op byte, body []byte) ([]byte, byte) {
	L := h.L
	switch op {
	case OpAdd:
		a, b, ok := addArgs(body)
		if !ok {
			return errorReply(dst, "add: want %d bytes, got %d", addSize, len(body))
		}
		L.Push(h.add)
		L.Push(lua.LNumber(a))
		L.Push(lua.LNumber(b))
		if err := L.PCall(2, 1, nil); err != nil {
			return errorReply(dst, "add: %v", err)
		}
		v := L.Get(-1)
		L.Pop(1)
		n, ok := v.(lua.LNumber)
		if !ok {
			return errorReply(dst, "add returned a %s", v.Type())
		}
		return appendInt64(dst, int64(n)), OpOK
	case OpEcho:
		L.Push(h.echo)
		L.Push(lua.LString(body))
		if err := L.PCall(1, 1, nil); err != nil {
			return errorReply(dst, "echo: %v", err)
		}
		v := L.Get(-1)
		L.Pop(1)
		s, ok := v.(lua.LString)
		if !ok {
			return errorReply(dst, "echo returned a %s", v.Type())
		}
		return append(dst, s...), OpOK
	}
	return errorReply(dst, "unknown op %d", op)
}

func (h *luaHandler) close() { h.L.Close() }
