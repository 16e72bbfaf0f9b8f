package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/transport/transporttest"
)

// serveHTTP serves h on a loopback listener, with at most maxConns
// connections when that is positive, until the test ends.
func serveHTTP(t *testing.T, h http.Handler, maxConns int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if maxConns > 0 {
		ln = LimitListener(ln, maxConns, nil)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return addr
}

// TestBodyTimeout checks that a body trickled past the timeout is cut
// off with 400 and its connection closed, that a body in time is served,
// and that a call running past the timeout after its body is not cut.
func TestBodyTimeout(t *testing.T) {
	testutil.CheckGoroutines(t)
	g, err := New(slowHandler{&transporttest.Handler{}}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	const d = 300 * time.Millisecond
	addr := serveHTTP(t, BodyTimeout(d, g), 0)

	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	fmt.Fprintf(nc, "POST /t/add.json HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n[1")
	start := time.Now()
	nc.SetReadDeadline(start.Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatalf("no answer to a trickled body: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "cannot read the body") {
		t.Fatalf("trickled body: %s %q", resp.Status, body)
	}
	if took := time.Since(start); took < d {
		t.Fatalf("cut off after %v, before the timeout %v", took, d)
	}

	resp, err = http.Post("http://"+addr+"/t/sleep.json", "application/json", strings.NewReader("[]"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != `"slept"` {
		t.Fatalf("a call longer than the body timeout: %s %q", resp.Status, body)
	}
	http.DefaultClient.CloseIdleConnections()
}

// slowHandler is transporttest's handler with a function that takes
// longer than the body timeout of TestBodyTimeout.
type slowHandler struct{ *transporttest.Handler }

func (h slowHandler) Call(ctx context.Context, name string, args []any) (any, error) {
	if name == "t/sleep" {
		select {
		case <-time.After(time.Second):
			return "slept", nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return h.Handler.Call(ctx, name, args)
}

// TestLimitListener checks that connections past the bound are closed at
// once, and that a slot is free again once a connection has closed.
func TestLimitListener(t *testing.T) {
	testutil.CheckGoroutines(t)
	addr := serveHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }), 2)
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("within the bound: %v %v", resp, err)
		}
		held = append(held, c)
	}
	over, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer over.Close()
	over.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := over.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("past the bound: read %d bytes, err %v; want the connection closed", n, err)
	}
	held[0].Close()
	testutil.WaitFor(t, 5*time.Second, func() bool {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Second}
		resp, err := c.Get("http://" + addr + "/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, "a connection served once one has closed")
}
