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
	if got, derived, err := advertised("", tcp("127.0.0.1:7")); got != "127.0.0.1:7" || derived || err != nil {
		t.Errorf("a specific address: %q %v %v", got, derived, err)
	}
	if got, derived, err := advertised("h.example:1", tcp("127.0.0.1:7")); got != "h.example:1" || derived || err != nil {
		t.Errorf("given: %q %v %v", got, derived, err)
	}
	for _, wild := range []string{"0.0.0.0:7", "[::]:7"} {
		got, derived, err := advertised("", tcp(wild))
		host, port, _ := net.SplitHostPort(got)
		if ip := net.ParseIP(host); err != nil || !derived || port != "7" || ip == nil || ip.IsUnspecified() {
			t.Errorf("%s: %q %v %v", wild, got, derived, err)
		}
	}
}

func TestAdvertisedHTTP(t *testing.T) {
	for _, tc := range []struct {
		addr, web string
		tls       bool
		want      string
	}{
		{"127.0.0.1:7", "127.0.0.1:9", false, "http://127.0.0.1:9"},
		{"10.0.0.5:2104", "0.0.0.0:8080", false, "http://10.0.0.5:8080"},
		{"[fd00::5]:2104", "[::]:8080", true, "https://[fd00::5]:8080"},
		{"h.example:2104", "192.0.2.1:8443", true, "https://192.0.2.1:8443"},
	} {
		web, err := net.ResolveTCPAddr("tcp", tc.web)
		if err != nil {
			t.Fatal(err)
		}
		if got := advertisedHTTP(tc.addr, web, tc.tls); got != tc.want {
			t.Errorf("advertisedHTTP(%s, %s, %v) = %s, want %s", tc.addr, tc.web, tc.tls, got, tc.want)
		}
	}
}
