package tests

import (
	"net"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/transport"
)

// BenchmarkIdleConns measures what an idle connection costs a server: b.N
// connections to a `slacker-lua serve` of the examples, each making a
// call and then waiting, as a client's pooled connection does; reported
// as the server's resident memory per connection once all are open and
// quiet. Each connection is also a file descriptor of this process and of
// the server, so b.N stays below both processes' limit (ulimit -n).
//
//	go test -run '^$' -bench IdleConns -benchtime 19000x ./tests/
func BenchmarkIdleConns(b *testing.B) {
	s := startCLI(b, "../examples/lua")
	pid := s.cmd.Process.Pid
	body, err := transport.JSON.Marshal([]any{1, 2})
	if err != nil {
		b.Fatal(err)
	}
	req, err := transport.AppendPacket(nil, &transport.Packet{Version: transport.V6, TID: 1, Type: transport.TypeRequest,
		ContentType: transport.ContentJSON, Name: "slacker.example.math/add", Body: body})
	if err != nil {
		b.Fatal(err)
	}
	before := procStatus(b, pid, "VmRSS")
	conns := make([]net.Conn, 0, b.N)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	b.ResetTimer()
	for range b.N {
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			b.Fatalf("connection %d: %v", len(conns)+1, err)
		}
		conns = append(conns, c)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		dec := transport.NewDecoder(c, transport.Limits{})
		var p transport.Packet
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		if err := dec.Decode(&p); err != nil || p.Code != transport.CodeSuccess {
			b.Fatalf("connection %d: %+v, %v", len(conns), p, err)
		}
	}
	b.StopTimer()
	// Long enough for each connection's watch to end (after 5s without
	// calls) and the garbage of the calls to be collected and returned
	// now and then: the figure of connections left idle.
	time.Sleep(10 * time.Second)
	after := procStatus(b, pid, "VmRSS")
	b.ReportMetric(float64(after-before)/float64(b.N), "RSS-bytes/conn")
	b.ReportMetric(float64(after)/(1<<20), "RSS-MiB")
}
