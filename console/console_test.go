package console_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/cluster"
	"github.com/slacker-lua/slacker-lua/console"
	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/internal/zktest"
)

var discard = slog.New(slog.DiscardHandler)

// TestNamespaces runs the console on a real ZooKeeper with two members,
// which serve a namespace at two versions (one rolling out a function)
// and a stateful one, and checks what /api/namespaces says of them, and
// that the page is served.
func TestNamespaces(t *testing.T) {
	zks := zktest.Start(t)
	layout := cluster.Layout{Cluster: "console"}
	a, b := "127.0.0.1:7", "127.0.0.1:9" // nothing listens: the console calls no server
	for addr, d := range map[string]cluster.NamespaceData{
		a: {Version: "v1", Idempotent: true, Functions: []cluster.Function{{Name: "add", Doc: "Adds a and b.", Params: []string{"a", "b"}}}},
		b: {Version: "v2", Idempotent: true, Functions: []cluster.Function{{Name: "add", Doc: "Adds a and b.", Params: []string{"a", "b"}}, {Name: "sub", Params: []string{"a", "b"}}}},
	} {
		m, err := cluster.Join(cluster.MemberConfig{ZooKeeper: []string{zks.Addr}, Layout: layout, Addr: addr, SessionTimeout: 2 * time.Second, Logger: discard})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.Close)
		if err := m.Register("math", d); err != nil {
			t.Fatal(err)
		}
		if err := m.Register("counter", cluster.NamespaceData{Version: "c1", Stateful: true, Functions: []cluster.Function{{Name: "incr"}}}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = m.Sync(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	c, err := cluster.NewClient(ctx, cluster.ClientConfig{ZooKeeper: []string{zks.Addr}, Layout: layout, SessionTimeout: 2 * time.Second, Logger: discard})
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	h, err := console.New(console.Config{Cluster: c})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	var got []console.Namespace
	testutil.WaitFor(t, 10*time.Second, func() bool {
		got = nil
		if err := getJSON(srv.URL+"/api/namespaces", &got); err != nil {
			t.Fatal(err)
		}
		return len(got) == 2 && got[0].Leader != "" && len(got[1].Servers) == 2
	}, "both namespaces, the counter's leader")
	counter, math := got[0], got[1]
	if counter.Name != "counter" || !counter.Stateful || counter.Idempotent || !slices.Contains([]string{a, b}, counter.Leader) {
		t.Errorf("counter: %+v", counter)
	}
	if math.Name != "math" || math.Stateful || !math.Idempotent || math.Leader != "" {
		t.Errorf("math: %+v", math)
	}
	if want := []console.Server{{Addr: a, Version: "v1", Weight: 1}, {Addr: b, Version: "v2", Weight: 1}}; !slices.Equal(math.Servers, want) {
		t.Errorf("math's servers: %+v, want %+v", math.Servers, want)
	}
	var names []string
	for _, f := range math.Functions {
		names = append(names, f.Name)
	}
	if !slices.Equal(names, []string{"add", "sub"}) || math.Functions[0].Doc != "Adds a and b." {
		t.Errorf("math's functions: %+v", math.Functions)
	}

	for path, want := range map[string]string{"/": "<title>slacker-lua console</title>", "/app.js": "api/namespaces", "/app.css": "font"} {
		r, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != http.StatusOK || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %s, %q", path, r.Status, b)
		}
		if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q", path, csp)
		}
	}
}

// TestNew checks the configuration errors.
func TestNew(t *testing.T) {
	if _, err := console.New(console.Config{}); err == nil || !strings.Contains(err.Error(), "Cluster is required") {
		t.Errorf("no cluster: %v", err)
	}
	if _, err := console.New(console.Config{Cluster: &cluster.Client{}, Every: time.Nanosecond}); err == nil || !strings.Contains(err.Error(), "less than") {
		t.Errorf("Every 1ns: %v", err)
	}
}

func getJSON(url string, v any) error {
	r, err := http.Get(url)
	if err != nil {
		return err
	}
	defer r.Body.Close()
	return json.NewDecoder(r.Body).Decode(v)
}
