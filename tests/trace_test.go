package tests

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/internal/zktest"
	"github.com/slacker-lua/slacker-lua/tracectx"
	"github.com/slacker-lua/slacker-lua/transport"
)

const testTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// hopFiles are the namespaces of a call of two hops: front/hop, on the
// first server, calls back/info, on the second only, through the
// cluster; each answers with the trace id and the seconds left it sees.
var hopFiles = [2]map[string]string{
	{"front.lua": `function hop()
  local b = slacker.call("back/info")
  return {trace = slacker.trace_id(), left = slacker.remaining(), back = b}
end`},
	{"back.lua": `function info() return {trace = slacker.trace_id(), left = slacker.remaining()} end`},
}

// TestCallContextTravels calls the gateway of a server with a trace
// context and a timeout in HTTP headers: its Lua function's slacker.call
// reaches a namespace of another server through the cluster, and both see
// the trace id, with less time left at each hop.
func TestCallContextTravels(t *testing.T) {
	zks := zktest.Start(t)
	front := startNode(t, zks.Addr, hopFiles[0], "--http", "127.0.0.1:0")
	back := startNode(t, zks.Addr, hopFiles[1])
	c := newCluster(t, zks.Addr, nil)
	testutil.WaitFor(t, 10*time.Second, func() bool {
		ss, err := c.Servers(context.Background(), "back")
		return err == nil && len(ss) == 1
	}, "back registered")

	req, err := http.NewRequest("POST", httpURL(t, front.cliServer)+"/front/hop.json", strings.NewReader("[]"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Traceparent", testTraceparent)
	req.Header.Set("Tracestate", "vendor=x")
	req.Header.Set("X-Slacker-Timeout", "3s")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Trace string  `json:"trace"`
		Left  float64 `json:"left"`
		Back  struct {
			Trace string  `json:"trace"`
			Left  float64 `json:"left"`
		} `json:"back"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %+v, %v", resp.Status, got, err)
	}
	const id = "4bf92f3577b34da6a3ce929d0e0e4736"
	if got.Trace != id || got.Back.Trace != id {
		t.Errorf("trace ids: front %q, back %q; want %s", got.Trace, got.Back.Trace, id)
	}
	if !(3 > got.Left && got.Left > got.Back.Left && got.Back.Left > 2) {
		t.Errorf("seconds left: front %v, back %v; want 3 > front > back > 2", got.Left, got.Back.Left)
	}

	// The Go client sends its context's trace context; a v5 client has
	// none to send, and is served.
	ctx := tracectx.With(context.Background(), tracectx.Context{Parent: testTraceparent})
	for _, v := range []transport.Version{transport.V6, transport.V5} {
		cl := dial(t, back.addr, client.Config{Version: v})
		res, err := cl.Call(ctx, "back/info")
		if err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		var info map[string]any
		if err := res.Decode(&info); err != nil {
			t.Fatal(err)
		}
		want := any(id)
		if v == transport.V5 {
			want = nil
		}
		if info["trace"] != want {
			t.Errorf("v%d client: trace %v, want %v", v, info["trace"], want)
		}
	}
}
