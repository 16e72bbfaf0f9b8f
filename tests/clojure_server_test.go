package tests

import (
	_ "embed"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/internal/clojuretest"
	"github.com/slacker-lua/slacker-lua/transport"
)

// serverProgram is a slacker server written in Clojure, serializing with
// Clojure's EDN reader and printer and with nippy, as slacker's does.
//
//go:embed testdata/clojure/server.clj
var serverProgram string

// TestClojureServer calls a Clojure server in EDN and nippy with the Go
// client, on both protocol versions, and checks what Clojure's values
// become in Go.
func TestClojureServer(t *testing.T) {
	out := clojuretest.Start(t, serverProgram)
	port, err := out.ReadString('\n')
	if err != nil {
		t.Fatalf("the Clojure server printed no port: %v", err)
	}
	addr := "127.0.0.1:" + strings.TrimSpace(port)

	wantTypes := map[string]any{
		"keyword": "ok", "ns-keyword": "a.b/c", "symbol": "sym",
		"set": []any{int64(1)}, "list": []any{int64(1), int64(2)},
		"vector": []any{int64(1), "two", 3.5, nil, true},
		"char":   "x", "ratio": 0.25,
		"bigint": uint64(18446744073709551615), "small-bigint": int64(7), "bigdec": 2.5,
		"uuid":      "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
		"nils":      map[string]any{"m": nil},
		"empty-map": map[string]any{}, "empty-vector": []any{},
		"string": "é\n\"q\"", "long": int64(9223372036854775807), "negative": int64(-7),
		"double": 0.1, "zero": 0.0,
	}
	for _, ct := range []transport.ContentType{transport.ContentEDN, transport.ContentNippy} {
		for _, v := range []transport.Version{transport.V6, transport.V5} {
			t.Run(fmt.Sprintf("%v/v%d", ct, v), func(t *testing.T) {
				c := dial(t, addr, client.Config{ContentType: ct, Version: v})
				args := []any{int64(1), "two", []any{3.5, nil, true}, map[string]any{"a": int64(1), "a b": "c"}}
				if got := callValue(t, c, "clj.test/args", args...); !reflect.DeepEqual(got, args) {
					t.Errorf("args: got %#v, want %#v", got, args)
				}
				nested := map[string]any{"k": map[string]any{"l": []any{int64(1), map[string]any{"m": nil}}}}
				if got := callValue(t, c, "clj.test/echo", nested); !reflect.DeepEqual(got, nested) {
					t.Errorf("echo: got %#v, want %#v", got, nested)
				}
				got, ok := callValue(t, c, "clj.test/types").(map[any]any)
				if !ok {
					t.Fatalf("types: got %T, want a map with a non-string key", got)
				}
				if got[int64(42)] != "integer key" || got["string key"] != int64(1) {
					t.Errorf("types: string and integer keys: %#v", got)
				}
				for k, want := range wantTypes {
					if !reflect.DeepEqual(got[k], want) {
						t.Errorf("types[%q]: got %#v, want %#v", k, got[k], want)
					}
				}
				if inst, _ := got["inst"].(string); !strings.HasPrefix(inst, "2024-01-02T03:04:05.678") {
					t.Errorf("types[inst]: got %#v", got["inst"])
				}
				_, err := c.Call(t.Context(), "clj.test/boom")
				var re *client.RemoteError
				if !errors.As(err, &re) || !errors.Is(err, client.ErrException) || re.Message != "java.lang.Exception: boom" {
					t.Errorf("boom: %v", err)
				}
				if _, err := c.Call(t.Context(), "clj.test/nope"); !errors.Is(err, client.ErrNotFound) {
					t.Errorf("nope: %v", err)
				}
				if ct == transport.ContentNippy {
					_, err := c.Call(t.Context(), "clj.test/boom-debug")
					if !errors.As(err, &re) || re.Message != "boom" {
						t.Errorf("boom-debug: %v", err)
					}
				}
			})
		}
	}
}
