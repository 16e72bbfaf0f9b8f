package cluster

import (
	"io"
	"net"
	"testing"
)

// answering serves one answer to whatever each connection sends, as a
// ZooKeeper server answers a four-letter word, until the test ends.
func answering(t *testing.T, answer string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.ReadFull(c, make([]byte, 4))
			io.WriteString(c, answer)
			c.Close()
		}
	}()
	return ln.Addr().String()
}

// TestSessionServing checks what a session makes of its servers' answers
// to srvr before it replaces a connection that gets no session.
func TestSessionServing(t *testing.T) {
	serving := answering(t, "Zookeeper version: 3.8.0\nLatency min/avg/max: 0/0.0/0\nMode: follower\nNode count: 5\n")
	idle := answering(t, "This ZooKeeper instance is not currently serving requests\n")
	unknown := answering(t, "srvr is not executed because it is not in the whitelist.\n")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close()
	for _, tt := range []struct {
		name    string
		servers []string
		want    bool
	}{
		{"one serves", []string{down, idle, serving}, true},
		{"no quorum", []string{idle, down, idle}, false},
		{"all down", []string{down, down}, false},
		{"srvr not allowed", []string{unknown, down}, true},
		{"srvr not allowed on one, no quorum on another", []string{unknown, idle}, false},
	} {
		s := &session{servers: tt.servers}
		if got := s.serving(); got != tt.want {
			t.Errorf("%s: serving %v, want %v", tt.name, got, tt.want)
		}
	}
}
