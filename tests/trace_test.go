package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/internal/otlp"
	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/internal/zktest"
	"github.com/slacker-lua/slacker-lua/tracectx"
	"github.com/slacker-lua/slacker-lua/transport"
)

const testTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// hopFiles are the namespaces of a call of two hops: front/hop, on the
// first server, calls back/info, on the second only, through the
// cluster; each answers with the trace id and the seconds left it sees,
// front before it calls back.
var hopFiles = [2]map[string]string{
	{"front.lua": `function hop()
  local left = slacker.remaining()
  local b = slacker.call("back/info")
  return {trace = slacker.trace_id(), left = left, back = b}
end
function fail() return slacker.call("back/boom") end`},
	{"back.lua": `function info() return {trace = slacker.trace_id(), left = slacker.remaining()} end
function boom() error("kaboom", 0) end`},
}

// hop is what front/hop answers.
type hop struct {
	Trace string  `json:"trace"`
	Left  float64 `json:"left"`
	Back  struct {
		Trace string  `json:"trace"`
		Left  float64 `json:"left"`
	} `json:"back"`
}

// callHop calls front/hop on the gateway at base, with a traceparent and
// an X-Slacker-Timeout.
func callHop(t *testing.T, base, traceparent, timeout string) hop {
	t.Helper()
	req, err := http.NewRequest("POST", base+"/front/hop.json", strings.NewReader("[]"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Traceparent", traceparent)
	req.Header.Set("Tracestate", "vendor=x")
	req.Header.Set("X-Slacker-Timeout", timeout)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got hop
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %+v, %v", resp.Status, got, err)
	}
	return got
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

	got := callHop(t, httpURL(t, front.cliServer), testTraceparent, "3s")
	const id = "4bf92f3577b34da6a3ce929d0e0e4736"
	if got.Trace != id || got.Back.Trace != id {
		t.Errorf("trace ids: front %q, back %q; want %s", got.Trace, got.Back.Trace, id)
	}
	if !(3 > got.Left && got.Left > got.Back.Left && got.Back.Left > 2) {
		t.Errorf("seconds left: front %v, back %v; want 3 > front > back > 2", got.Left, got.Back.Left)
	}
	// The server's --timeout (10s) bounds the header's.
	if got := callHop(t, httpURL(t, front.cliServer), testTraceparent, "1h"); !(10 >= got.Left && got.Left > got.Back.Left && got.Back.Left > 9) {
		t.Errorf("an hour asked for: front %v, back %v seconds left; want 10 >= front > back > 9", got.Left, got.Back.Left)
	}

	// A request with extensions the server does not know is served, and
	// they are echoed.
	nc, err := net.Dial("tcp", back.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	pkt, err := transport.AppendPacket(nil, &transport.Packet{Version: transport.V6, TID: 1, Type: transport.TypeRequest, ContentType: transport.ContentJSON,
		Name: "back/info", Body: []byte("[]"), Extensions: []transport.Extension{{ID: 77, Value: []byte(`{"future":1}`)}, {ID: -40, Value: []byte("x")}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write(pkt); err != nil {
		t.Fatal(err)
	}
	var answer transport.Packet
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := transport.NewDecoder(nc, transport.Limits{}).Decode(&answer); err != nil || answer.Type != transport.TypeResponse || answer.Code != transport.CodeSuccess || len(answer.Extensions) != 2 {
		t.Errorf("unknown extensions: %+v, %v", answer, err)
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

// spanSink is an OTLP/HTTP collector of its own: the spans POSTed to it,
// decoded from their protobuf.
type spanSink struct {
	*httptest.Server
	mu    sync.Mutex
	spans []otlp.Span
}

func newSpanSink(t *testing.T) *spanSink {
	s := &spanSink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" || err != nil {
			http.Error(w, "want a protobuf POST to /v1/traces", http.StatusBadRequest)
			return
		}
		spans, err := otlp.Decode(b)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.spans = append(s.spans, spans...)
		s.mu.Unlock()
	}))
	t.Cleanup(s.Close)
	return s
}

// trace returns the spans of the trace id, by name and kind ("front/hop
// server").
func (s *spanSink) trace(id string) map[string]otlp.Span {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]otlp.Span{}
	for _, sp := range s.spans {
		if sp.TraceID == id {
			out[sp.Name+" "+map[int]string{2: "server", 3: "client"}[sp.Kind]] = sp
		}
	}
	return out
}

// TestTraceSpansTheCluster makes one trace of an HTTP call to a server's
// gateway, its slacker.call through the cluster to a namespace of a
// second server, and back: each server sends its spans to an OTLP/HTTP
// collector of the test's, whose parent links follow the hops, with the
// RPC conventions' attributes; a failing call's spans say so.
func TestTraceSpansTheCluster(t *testing.T) {
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "100") // the servers send their spans every 100 ms
	sink := newSpanSink(t)
	zks := zktest.Start(t)
	tracing := []string{"--otlp-endpoint", sink.URL, "--trace-sample", "1"}
	front := startNode(t, zks.Addr, hopFiles[0], append(tracing, "--http", "127.0.0.1:0")...)
	back := startNode(t, zks.Addr, hopFiles[1], tracing...)
	c := newCluster(t, zks.Addr, nil)
	testutil.WaitFor(t, 10*time.Second, func() bool {
		ss, err := c.Servers(context.Background(), "back")
		return err == nil && len(ss) == 1
	}, "back registered")
	post := func(fn, traceparent string) int {
		t.Helper()
		req, err := http.NewRequest("POST", httpURL(t, front.cliServer)+"/front/"+fn+".json", strings.NewReader("[]"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Traceparent", traceparent)
		req.Header.Set("X-Slacker-Timeout", "3s")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := callHop(t, httpURL(t, front.cliServer), testTraceparent, "3s"); !(3 > got.Left && got.Left > got.Back.Left && got.Back.Left > 2) {
		t.Errorf("seconds left: front %v, back %v; want 3 > front > back > 2", got.Left, got.Back.Left)
	}
	const id, caller = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	var spans map[string]otlp.Span
	testutil.WaitFor(t, 15*time.Second, func() bool { spans = sink.trace(id); return len(spans) >= 3 }, "the trace's three spans")
	fs, cs, bs := spans["front/hop server"], spans["back/info client"], spans["back/info server"]
	if fs.ParentSpanID != caller || cs.ParentSpanID != fs.SpanID || bs.ParentSpanID != cs.SpanID || fs.SpanID == "" || cs.SpanID == "" {
		t.Fatalf("parent links: front %s <- %s, client %s <- %s, back %s <- %s; the caller %s\n%+v",
			fs.SpanID, fs.ParentSpanID, cs.SpanID, cs.ParentSpanID, bs.SpanID, bs.ParentSpanID, caller, spans)
	}
	for name, want := range map[string]map[string]any{
		"front/hop server": {"rpc.system": "slacker", "rpc.service": "front", "rpc.method": "hop", "rpc.slacker.result_code": "success", "server.address": "127.0.0.1"},
		"back/info client": {"rpc.system": "slacker", "rpc.service": "back", "rpc.method": "info", "rpc.slacker.result_code": "success"},
		"back/info server": {"rpc.system": "slacker", "rpc.service": "back", "rpc.method": "info", "rpc.slacker.result_code": "success", "server.address": "127.0.0.1"},
	} {
		sp := spans[name]
		for k, v := range want {
			if sp.Attributes[k] != v {
				t.Errorf("%s: %s = %v, want %v", name, k, sp.Attributes[k], v)
			}
		}
		if sp.Resource["service.name"] != "slacker-lua" {
			t.Errorf("%s: resource %v", name, sp.Resource)
		}
	}
	if _, ok := fs.Attributes["rpc.request.size"]; !ok {
		t.Errorf("front's server span has no rpc.request.size: %v", fs.Attributes)
	}
	if port, _ := bs.Attributes["server.port"].(int64); port == 0 || !strings.HasSuffix(back.addr, fmt.Sprintf(":%d", port)) {
		t.Errorf("back's server span: server.port %v, back at %s", bs.Attributes["server.port"], back.addr)
	}

	// The latency histogram's exemplar names the sampled call's trace.
	req, err := http.NewRequest("GET", httpURL(t, front.cliServer)+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), `slacker_call_duration_seconds_bucket{function="hop",namespace="front"`) || !strings.Contains(string(page), `trace_id="`+id+`"`) {
		t.Errorf("no exemplar of trace %s in front's /metrics", id)
	}

	// A call that fails: its spans' status is an error, with its code.
	const failed = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	if code := post("fail", failed); code != http.StatusInternalServerError {
		t.Fatalf("front/fail: %d", code)
	}
	testutil.WaitFor(t, 15*time.Second, func() bool { spans = sink.trace("0af7651916cd43dd8448eb211c80319c"); return len(spans) >= 3 }, "the failed trace's spans")
	for _, name := range []string{"front/fail server", "back/boom client", "back/boom server"} {
		if sp := spans[name]; sp.StatusCode != 2 || sp.Attributes["rpc.slacker.result_code"] != "exception" {
			t.Errorf("%s: status %d, code %v; want an error, exception", name, sp.StatusCode, sp.Attributes["rpc.slacker.result_code"])
		}
	}
}
