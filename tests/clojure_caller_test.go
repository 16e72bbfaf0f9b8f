package tests

import (
	_ "embed"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/slacker-lua/slacker-lua/internal/clojuretest"
)

// callerProgram is a slacker caller written in Clojure: it serializes
// calls and reads answers with Clojure's own EDN reader and printer and
// with nippy, as slacker's client does.
//
//go:embed testdata/clojure/caller.clj
var callerProgram string

// TestClojureCaller calls a `slacker-lua serve` process in EDN ("clj",
// slacker's default) and nippy, on both protocol versions, from Clojure,
// and checks each answer as Clojure reads it.
func TestClojureCaller(t *testing.T) {
	s := startCLI(t, "../examples/lua")
	big := strings.Repeat("slacker ", 2048) // 16 KiB: nippy's freeze compresses it with LZ4
	type call struct {
		ct, version, fn, args, framing, deadline string
		want                                     string // a regexp of the answer after its tid
	}
	var calls []call
	for _, ct := range []string{"clj", "nippy"} {
		for _, v := range []string{"6", "5"} {
			c := func(fn, args, want string) call { return call{ct: ct, version: v, fn: fn, args: args, want: want} }
			calls = append(calls,
				c("slacker.example.math/add", "[1 2]", `:success 3`),
				c("slacker.example.api/echo", `["héllo \"q\"\n\t"]`, `:success "héllo \\"q\\"\\n\\t"`),
				c("slacker.example.api/echo", `[{:a 1, :b [1 2.5 nil "x" true]}]`, `:success \{:a 1, :b \[1 2\.5 nil "x" true\]\}`),
				c("slacker.example.api/echo", `[{:k {:l [1 {:m nil}]}}]`, `:success \{:k \{:l \[1 \{\}\]\}\}`),
				c("slacker.example.api/echo", `[{"a b" 1, "c" 2}]`, `:success \{(:c 2, "a b" 1|"a b" 1, :c 2)\}`),
				c("slacker.example.api/echo", `[:kw]`, `:success "kw"`),
				c("slacker.example.api/echo", `[:ns/kw]`, `:success "ns/kw"`),
				c("slacker.example.api/echo", `[sym]`, `:success "sym"`),
				c("slacker.example.api/echo", `[\c]`, `:success "c"`),
				c("slacker.example.api/echo", `[#{7}]`, `:success \[7\]`),
				c("slacker.example.api/echo", `[(1 2)]`, `:success \[1 2\]`),
				c("slacker.example.api/echo", `[9007199254740992]`, `:success 9007199254740992`),
				c("slacker.example.api/echo", `[-9007199254740992]`, `:success -9007199254740992`),
				c("slacker.example.api/echo", `[9223372036854775807]`, `:exception "[^"]*out of range for Lua numbers[^"]*"`),
				c("slacker.example.api/echo", `[1/2]`, `:success 0\.5`),
				c("slacker.example.api/echo", `[1.5M]`, `:success 1\.5`),
				c("slacker.example.api/echo", `[100N]`, `:success 100`),
				c("slacker.example.api/echo", `[99999999999999999999999N]`, `:error :invalid-packet`),
				c("slacker.example.api/echo", `[[]]`, `:success \[\]`),
				c("slacker.example.api/echo", `[{}]`, `:success \{\}`),
				c("slacker.example.api/echo", `[nil]`, `:success nil`),
				c("slacker.example.api/echo", `[1 2]`, `:success \[1 2\]`),
				c("slacker.example.api/echo", `["`+big+`"]`, `:success "`+big+`"`),
				c("slacker.example.api/timestamp", ``, `:success 1[0-9]{12}`),
				c("slacker.example.api/return-nil", `[]`, `:success nil`),
				c("slacker.example.api/make-error", `[]`, `:exception "[^"]*api\.lua:\d+: Expected exception\."`),
				c("slacker.example.api/nope", `[]`, `:error :not-found`),
			)
			if v == "6" {
				calls = append(calls, call{ct: ct, version: v, fn: "slacker.example.api/long-running", args: "[]", deadline: "300", want: `:error :canceled`})
			}
		}
	}
	calls = append(calls,
		call{ct: "nippy", version: "6", fn: "slacker.example.api/echo", args: `["` + big + `"]`, framing: "header", want: `:success "` + big + `"`},
		call{ct: "nippy", version: "6", fn: "slacker.example.api/echo", args: `[{:a [1 2]}]`, framing: "header", want: `:success \{:a \[1 2\]\}`},
		call{ct: "clj", version: "6", fn: "slacker.example.api/echo", args: `[#uuid "6ba7b810-9dad-11d1-80b4-00c04fd430c8"]`, want: `:success "6ba7b810-9dad-11d1-80b4-00c04fd430c8"`},
		call{ct: "nippy", version: "6", fn: "slacker.example.api/echo", args: `[#uuid "6ba7b810-9dad-11d1-80b4-00c04fd430c8"]`, want: `:success "6ba7b810-9dad-11d1-80b4-00c04fd430c8"`},
	)
	var in strings.Builder
	for _, c := range calls {
		fmt.Fprintf(&in, "%s\t%s\t%s\t%s\t%s\t%s\n", c.ct, c.version, c.fn, c.args, c.framing, c.deadline)
	}
	out := clojuretest.Run(t, callerProgram, []byte(in.String()), s.addr)
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(calls) {
		t.Fatalf("%d answers to %d calls:\n%s", len(lines), len(calls), out)
	}
	for i, c := range calls {
		re := regexp.MustCompile(fmt.Sprintf(`^\[%d %s\]$`, i, c.want))
		if !re.MatchString(lines[i]) {
			args := c.args
			if len(args) > 60 {
				args = args[:60] + "..."
			}
			t.Errorf("%s v%s %s %s %s: got %s, want %s", c.ct, c.version, c.framing, c.fn, args, lines[i], re)
		}
	}
}
