package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/tracectx"
	"github.com/slacker-lua/slacker-lua/transport"
	"github.com/slacker-lua/slacker-lua/transport/transporttest"
)

func start(t *testing.T, cfg Config) string {
	t.Helper()
	g, err := New(&transporttest.Handler{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return srv.URL
}

func post(t *testing.T, url, body string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Post(url, "application/octet-stream", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func TestCalls(t *testing.T) {
	url := start(t, Config{Timeout: 200 * time.Millisecond, MaxBodySize: 1 << 10})
	for _, tc := range []struct {
		name, path, body string
		status           int
		code, want       string
	}{
		{"json", "/t/add.json", "[1, 2]", 200, "success", "3"},
		{"no body", "/t/add.json", "", 200, "success", "0"},
		{"blank body", "/t/add.json", " \n", 200, "success", "0"},
		{"nested", "/t/echo.json", `[{"a":[1,"x"]}]`, 200, "success", `{"a":[1,"x"]}`},
		{"exception", "/t/add.json", `["x"]`, 500, "exception", `"add: string is not an integer"`},
		{"not found", "/t/nope.json", "[]", 404, "not-found", `"slacker: not found: t/nope"`},
		{"bad body", "/t/add.json", "[1,", 400, "invalid-packet", `"the body is not a JSON array of the arguments: unexpected end of input looking for a value"`},
		{"not an array", "/t/add.json", `{"a":1}`, 400, "invalid-packet", `"the body must be a JSON array of the arguments, such as [1, \"a\"], or [] for none; this one is an object"`},
		{"a string", "/t/add.json", `"x"`, 400, "invalid-packet", `"the body must be a JSON array of the arguments, such as [1, \"a\"], or [] for none; this one is a string"`},
		{"a number", "/t/add.json", `3`, 400, "invalid-packet", `"the body must be a JSON array of the arguments, such as [1, \"a\"], or [] for none; this one is a number"`},
		{"an EDN map", "/t/add.clj", `{:a 1}`, 400, "invalid-packet", `"the body must be an EDN array of the arguments, such as [1, \"a\"], or [] for none; this one is a map"`},
		{"a word", "/t/add.json", `hello`, 400, "invalid-packet", `"the body is not a JSON array of the arguments: invalid character 'h' looking for a value at offset 0"`},
		{"unknown content type", "/t/add.xml", "[]", 400, "invalid-packet", "unknown content type \"xml\"\n"},
		{"no content type", "/t/add", "[]", 400, "invalid-packet", ""},
		{"too large", "/t/add.json", "[" + strings.Repeat("1,", 1<<10) + "1]", 413, "invalid-packet", `"request body of 2051 bytes larger than the server accepts (at most 1024 bytes)"`},
		{"timeout", "/t/block.json", "[]", 504, "canceled", ""},
		{"busy", "/t/busy.json", "[]", 503, "thread-pool-full", ""},
		{"unencodable", "/t/unencodable.json", "[]", 500, "exception", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, h, body := post(t, url+tc.path, tc.body)
			if status != tc.status || h.Get("X-Slacker-Code") != tc.code {
				t.Fatalf("%d %s: %s; want %d %s", status, h.Get("X-Slacker-Code"), body, tc.status, tc.code)
			}
			if tc.want != "" && body != tc.want {
				t.Fatalf("body %q, want %q", body, tc.want)
			}
			if ct := h.Get("Content-Type"); tc.status == 200 && ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
		})
	}
}

// TestContentTypes calls in every content type the gateway's path names,
// each answered in its own media type.
func TestContentTypes(t *testing.T) {
	url := start(t, Config{})
	for _, c := range []struct {
		ext, media string
		codec      transport.Codec
	}{
		{"msgpack", "application/msgpack", transport.Msgpack},
		{"clj", "application/clj", transport.EDN},
		{"edn", "application/clj", transport.EDN},
		{"nippy", "application/nippy", transport.Nippy},
	} {
		t.Run(c.ext, func(t *testing.T) {
			args, err := c.codec.Marshal([]any{40, 2})
			if err != nil {
				t.Fatal(err)
			}
			status, h, body := post(t, url+"/t/add."+c.ext, string(args))
			var n int64
			if status != 200 || h.Get("Content-Type") != c.media || c.codec.Unmarshal([]byte(body), &n) != nil || n != 42 {
				t.Fatalf("%d %v %q", status, h, body)
			}
			status, _, body = post(t, url+"/t/nope."+c.ext, string(args))
			var msg string
			if status != 404 || c.codec.Unmarshal([]byte(body), &msg) != nil || !strings.Contains(msg, "t/nope") {
				t.Fatalf("%d %q", status, body)
			}
			status, _, body = post(t, url+"/t/echo."+c.ext, string(args[:len(args)-1]))
			if status != 400 {
				t.Fatalf("a cut body: %d %q", status, body)
			}
		})
	}
}

func TestMethodsAndInspect(t *testing.T) {
	url := start(t, Config{})
	resp, err := http.Get(url + "/t/add.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" || resp.Header.Get("X-Slacker-Code") != "invalid-packet" {
		t.Fatalf("GET of a function: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	for _, path := range []string{"/", "/_inspect"} {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := `{"functions":[{"name":"t/add","params":["a","b"],"doc":"Adds numbers."},{"name":"t/echo","params":[]}]}` + "\n"
		if resp.StatusCode != 200 || string(b) != want {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
	}
	// Unknown paths are answered as calls are: in the path's content
	// type, JSON if it names none, with X-Slacker-Code.
	for _, tc := range []struct{ path, media, want string }{
		{"/nothing/here/at/all", "application/json", `"nothing is served at /nothing/here/at/all: a call is a POST to /NAMESPACE/FUNCTION.json (or .clj, .nippy, .msgpack), and GET / lists the functions"`},
		{"/favicon.ico", "application/json", `"nothing is served at /favicon.ico: a call is a POST to /NAMESPACE/FUNCTION.json (or .clj, .nippy, .msgpack), and GET / lists the functions"`},
		{"/a/b/c.clj", "application/clj", `"nothing is served at /a/b/c.clj: a call is a POST to /NAMESPACE/FUNCTION.json (or .clj, .nippy, .msgpack), and GET / lists the functions"`},
	} {
		resp, err = http.Get(url + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != tc.media ||
			resp.Header.Get("X-Slacker-Code") != "not-found" || string(b) != tc.want {
			t.Errorf("GET %s: %d %v %s", tc.path, resp.StatusCode, resp.Header, b)
		}
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := New(nil, Config{}); err == nil {
		t.Error("nil handler accepted")
	}
	if _, err := New(&transporttest.Handler{}, Config{MaxBodySize: -1}); err == nil {
		t.Error("negative MaxBodySize accepted")
	}
	if _, err := New(&transporttest.Handler{}, Config{Timeout: -time.Second}); err == nil {
		t.Error("negative Timeout accepted")
	}
	_, err := New(&transporttest.Handler{}, Config{MaxBodySize: -1, Timeout: -time.Second})
	if j, ok := err.(interface{ Unwrap() []error }); !ok || len(j.Unwrap()) != 2 {
		t.Errorf("two bad fields: got %v, want both reported", err)
	}
}

func TestAuthenticate(t *testing.T) {
	url := start(t, Config{Authenticate: func(tok string) bool { return tok == "s3cret" }})
	for _, tc := range []struct {
		header string
		status int
	}{
		{"", http.StatusUnauthorized},
		{"Bearer wrong", http.StatusUnauthorized},
		{"Basic s3cret", http.StatusUnauthorized},
		{"Bearer s3cret", http.StatusOK},
	} {
		for _, path := range []string{"/t/add.json", "/"} {
			method := "POST"
			if path == "/" {
				method = "GET"
			}
			req, _ := http.NewRequest(method, url+path, strings.NewReader("[1]"))
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("%s %s with %q: %d, want %d", method, path, tc.header, resp.StatusCode, tc.status)
			}
			b, _ := io.ReadAll(resp.Body)
			want := "a token is required: send it as Authorization: Bearer TOKEN\n"
			if strings.HasPrefix(tc.header, "Bearer ") {
				want = "the token given in Authorization: Bearer was refused: check it against the server's --token-file\n"
			}
			if tc.status == http.StatusUnauthorized && string(b) != want {
				t.Errorf("%s %s with %q: %q, want %q", method, path, tc.header, b, want)
			}
			if tc.status == http.StatusUnauthorized && (resp.Header.Get("WWW-Authenticate") == "" || resp.Header.Get("X-Slacker-Code") != "acl-reject") {
				t.Errorf("401 without its headers: %v", resp.Header)
			}
		}
	}
}

// ctxHandler answers t/ctx with what the call's context carries: its
// traceparent, its tracestate and the milliseconds left to its deadline
// (-1 without one).
type ctxHandler struct{ transporttest.Handler }

func (h *ctxHandler) Call(ctx context.Context, name string, args []any) (any, error) {
	if name != "t/ctx" {
		return h.Handler.Call(ctx, name, args)
	}
	left := int64(-1)
	if d, ok := ctx.Deadline(); ok {
		left = time.Until(d).Milliseconds()
	}
	tc := tracectx.From(ctx)
	return []any{tc.Parent, tc.State, left}, nil
}

// TestCallContext checks what a request's headers put in the call's
// context: a trace context from traceparent and tracestate, and a
// deadline from X-Slacker-Timeout, bounded by Config.Timeout.
func TestCallContext(t *testing.T) {
	g, err := New(&ctxHandler{}, Config{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	defer srv.Close()
	parent := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, tc := range []struct {
		headers    map[string]string
		status     int
		trace      string
		state      string
		minL, maxL int64 // ms left
	}{
		{map[string]string{}, 200, "", "", 4000, 5000},
		{map[string]string{"Traceparent": parent, "Tracestate": "k=v"}, 200, parent, "k=v", 4000, 5000},
		{map[string]string{"Traceparent": "00-garbage", "Tracestate": "k=v"}, 200, "", "", 4000, 5000},
		{map[string]string{TimeoutHeader: "1.5s"}, 200, "", "", 1000, 1500},
		{map[string]string{TimeoutHeader: "0.25"}, 200, "", "", 100, 250},
		{map[string]string{TimeoutHeader: "1h"}, 200, "", "", 4000, 5000}, // Config.Timeout bounds it
		{map[string]string{TimeoutHeader: "soon"}, 400, "", "", 0, 0},
		{map[string]string{TimeoutHeader: "-1s"}, 400, "", "", 0, 0},
		{map[string]string{TimeoutHeader: "1e300"}, 400, "", "", 0, 0},
	} {
		req, err := http.NewRequest("POST", srv.URL+"/t/ctx.json", strings.NewReader("[]"))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range tc.headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var got []any
		json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%v: %d, want %d", tc.headers, resp.StatusCode, tc.status)
			continue
		}
		if tc.status != 200 {
			continue
		}
		if len(got) != 3 || got[0] != tc.trace || got[1] != tc.state || got[2].(float64) < float64(tc.minL) || got[2].(float64) > float64(tc.maxL) {
			t.Errorf("%v: %v; want %q %q and %d-%d ms left", tc.headers, got, tc.trace, tc.state, tc.minL, tc.maxL)
		}
	}
}
