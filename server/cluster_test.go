package server

import (
	"net"
	"testing"
)

func TestAdvertised(t *testing.T) {
	tcp := func(s string) net.Addr {
		a, err := net.ResolveTCPAddr("tcp", s)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	if got, derived, err := advertised("", tcp("127.0.0.1:2104")); got != "127.0.0.1:2104" || derived || err != nil {
		t.Errorf("a specific address: %q %v %v", got, derived, err)
	}
	if got, derived, err := advertised("h.example:1", tcp("127.0.0.1:2104")); got != "h.example:1" || derived || err != nil {
		t.Errorf("given: %q %v %v", got, derived, err)
	}
	for _, wild := range []string{"0.0.0.0:2104", "[::]:2104"} {
		got, derived, err := advertised("", tcp(wild))
		host, port, _ := net.SplitHostPort(got)
		if ip := net.ParseIP(host); err != nil || !derived || port != "2104" || ip == nil || ip.IsUnspecified() {
			t.Errorf("%s: %q %v %v", wild, got, derived, err)
		}
	}
}
