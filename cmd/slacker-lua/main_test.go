package main

import (
	"bytes"
	"context"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/internal/testutil"
)

// TestServeInProcess runs serve, call and inspect through run, and stops
// the server by cancelling its context, as SIGTERM does.
func TestServeInProcess(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs testutil.Buffer
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--log-format", "json", "../../examples/lua"}, &logs, &logs)
	}()
	addrRE := regexp.MustCompile(`"msg":"serving","addr":"([^"]+)"`)
	var addr string
	deadline := time.Now().Add(10 * time.Second)
	for addr == "" {
		if m := addrRE.FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("serve did not start:\n%s", logs.String())
		} else {
			time.Sleep(5 * time.Millisecond)
		}
	}

	var out, errs bytes.Buffer
	if code := run(ctx, []string{"call", addr, "slacker.example.math/sum", "1", "2", "3.5"}, &out, &errs); code != 0 || out.String() != "6.5\n" {
		t.Fatalf("call: exit %d, stdout %q, stderr %q", code, out.String(), errs.String())
	}
	out.Reset()
	if code := run(ctx, []string{"inspect", addr, "slacker.example.counter/"}, &out, &errs); code != 0 || !strings.Contains(out.String(), "slacker.example.counter/inc(amount)\n    Adds amount") {
		t.Fatalf("inspect: exit %d, stdout %q, stderr %q", code, out.String(), errs.String())
	}

	cancel()
	select {
	case code := <-exited:
		if code != 0 {
			t.Fatalf("serve exited %d:\n%s", code, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop when its context ended")
	}
}

func TestRunUsage(t *testing.T) {
	var out, errs bytes.Buffer
	if code := run(context.Background(), nil, &out, &errs); code != exitUsage || !strings.Contains(errs.String(), "Commands:") {
		t.Errorf("no arguments: exit %d, stderr %q", code, errs.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"version"}, &out, &errs); code != exitOK || out.String() != "slacker-lua "+version+"\n" {
		t.Errorf("version: exit %d, stdout %q", code, out.String())
	}
	errs.Reset()
	if code := run(context.Background(), []string{"call", "--content-type", "xml", "127.0.0.1:1", "a/b"}, &out, &errs); code != exitUsage || !strings.Contains(errs.String(), "bad --content-type") {
		t.Errorf("bad content type: exit %d, stderr %q", code, errs.String())
	}
	errs.Reset()
	if code := run(context.Background(), []string{"call", "--timeout", "0s", "127.0.0.1:1", "a/b"}, &out, &errs); code != exitUsage || !strings.Contains(errs.String(), "bad --timeout") {
		t.Errorf("zero timeout: exit %d, stderr %q", code, errs.String())
	}
}

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
		t.Errorf("--advertise: %q %v %v", got, derived, err)
	}
	for _, wild := range []string{"0.0.0.0:2104", "[::]:2104"} {
		got, derived, err := advertised("", tcp(wild))
		host, port, _ := net.SplitHostPort(got)
		if ip := net.ParseIP(host); err != nil || !derived || port != "2104" || ip == nil || ip.IsUnspecified() {
			t.Errorf("%s: %q %v %v", wild, got, derived, err)
		}
	}
}
