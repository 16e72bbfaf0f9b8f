package transport

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestAppendEDN(t *testing.T) {
	cases := []struct {
		in   any
		want string
	}{
		{nil, `nil`},
		{true, `true`},
		{false, `false`},
		{1, `1`},
		{int64(-5), `-5`},
		{int8(-8), `-8`},
		{uint16(16), `16`},
		{uint64(math.MaxUint64), `18446744073709551615`},
		{1.5, `1.5`},
		{1.0, `1.0`},
		{-0.25, `-0.25`},
		{100000.0, `100000.0`},
		{1e300, `1e+300`},
		{float32(0.5), `0.5`},
		{math.Inf(1), `##Inf`},
		{math.Inf(-1), `##-Inf`},
		{math.NaN(), `##NaN`},
		{"", `""`},
		{"a\"b\\c\nd\te\rf\x01g\x7f", `"a\"b\\c\nd\te\rf\u0001g\u007f"`},
		{"é☃😀", `"é☃😀"`},
		{"bad\xffutf8", `"bad\ufffdutf8"`},
		{Keyword("doc"), `:doc`},
		{Keyword("ns/name"), `:ns/name`},
		{Symbol("ns/fn"), `ns/fn`},
		{Symbol("&"), `&`},
		{Symbol("..."), `...`},
		{Symbol("/"), `/`},
		{Symbol("a->b?"), `a->b?`},
		{[]any{1, "a", nil}, `[1 "a" nil]`},
		{[]any{}, `[]`},
		{[]string{"a/b", "c"}, `["a/b" "c"]`},
		{[]string{}, `[]`},
		{List{Symbol("a"), []any{Symbol("b")}}, `(a [b])`},
		{List{}, `()`},
		{map[Keyword]any{"b": 1, "a": []any{2}}, `{:a [2] :b 1}`},
		{map[string]any{"b": 1, "a": 2}, `{"a" 2 "b" 1}`},
		{map[any]any{Keyword("k"): 1, "s": 2, int64(3): 4, nil: 5}, `{"s" 2 3 4 :k 1 nil 5}`},
		{map[Keyword]any{}, `{}`},
		{Tagged{Tag: "inst", Value: "2024-01-01T00:00:00.000-00:00"}, `#inst "2024-01-01T00:00:00.000-00:00"`},
		{Tagged{Tag: "my/tag", Value: []any{1}}, `#my/tag [1]`},
	}
	for _, c := range cases {
		got, err := AppendEDN([]byte("x"), c.in)
		if err != nil || string(got) != "x"+c.want {
			t.Errorf("AppendEDN(%#v) = %s, %v; want x%s", c.in, got, err, c.want)
		}
	}
}

func TestAppendEDNErrors(t *testing.T) {
	deep := any(nil)
	for range ednMaxDepth + 1 {
		deep = []any{deep}
	}
	cyclic := []any{nil}
	cyclic[0] = cyclic
	bad := []any{
		Keyword(""), Keyword("a b"), Keyword(":a"), Keyword("1a"), Keyword("a/"),
		Symbol(""), Symbol("nil"), Symbol("true"), Symbol("1a"), Symbol("-1"), Symbol("a/b/c"), Symbol("#a"), Symbol("a\"b"),
		Tagged{Tag: "1x", Value: 1}, Tagged{Tag: "_", Value: 1}, Tagged{Tag: "", Value: 1},
		struct{}{}, make(chan int), []int{1}, map[int]any{},
		[]any{struct{}{}}, map[Keyword]any{"a": struct{}{}}, map[any]any{[2]int{}: 1},
		deep, cyclic,
	}
	for _, v := range bad {
		if got, err := AppendEDN(nil, v); !errors.Is(err, ErrInvalidEDN) {
			t.Errorf("AppendEDN(%T %v) = %s, %v; want ErrInvalidEDN", v, v, got, err)
		}
	}
}

func nest(open, close string, n int) string {
	return strings.Repeat(open, n) + strings.Repeat(close, n)
}

func TestParseEDN(t *testing.T) {
	cases := []struct {
		in   string
		want any
	}{
		{`nil`, nil},
		{`true`, true},
		{` false `, false},
		{`0`, int64(0)},
		{`42`, int64(42)},
		{`-7`, int64(-7)},
		{`+3`, int64(3)},
		{`-0`, int64(0)},
		{`1N`, int64(1)},
		{`9223372036854775807`, int64(math.MaxInt64)},
		{`-9223372036854775808`, int64(math.MinInt64)},
		{`9223372036854775808`, uint64(1 << 63)},
		{`1.5`, 1.5},
		{`1.`, 1.0},
		{`0.5`, 0.5},
		{`-2.5e3`, -2500.0},
		{`1e10`, 1e10},
		{`1E-2`, 0.01},
		{`1e+300`, 1e300},
		{`1.5M`, 1.5},
		{`2M`, 2.0},
		{`##Inf`, math.Inf(1)},
		{`##-Inf`, math.Inf(-1)},
		{`""`, ""},
		{`"a\"b\\c\nd\te\rf\bg\fh"`, "a\"b\\c\nd\te\rf\bg\fh"},
		{`"\u00e9\u0001 \ud83d\ude00"`, "é\x01 😀"},
		{`"\ud83d"`, "\ufffd"},
		{`"\ud83dx"`, "\ufffdx"},
		{"\"raw\nnewline é\"", "raw\nnewline é"},
		{`:a`, Keyword("a")},
		{`:ns/name`, Keyword("ns/name")},
		{`:a.b-c?`, Keyword("a.b-c?")},
		{`a`, Symbol("a")},
		{`ns/fn`, Symbol("ns/fn")},
		{`/`, Symbol("/")},
		{`&`, Symbol("&")},
		{`...`, Symbol("...")},
		{`-`, Symbol("-")},
		{`+a`, Symbol("+a")},
		{`a#b`, Symbol("a#b")},
		{`é`, Symbol("é")},
		{`()`, List{}},
		{`(1 (2) a)`, List{int64(1), List{int64(2)}, Symbol("a")}},
		{`[]`, []any{}},
		{`[1 [2 "x"] :k]`, []any{int64(1), []any{int64(2), "x"}, Keyword("k")}},
		{`[1,2 ,3]`, []any{int64(1), int64(2), int64(3)}},
		{`{}`, map[any]any{}},
		{`{:a 1, :b [2] "c" nil nil 3 4 (5)}`, map[any]any{Keyword("a"): int64(1), Keyword("b"): []any{int64(2)}, "c": nil, nil: int64(3), int64(4): List{int64(5)}}},
		{`{:m {:n 1}}`, map[any]any{Keyword("m"): map[any]any{Keyword("n"): int64(1)}}},
		{`{#inst "x" 1}`, map[any]any{Tagged{Tag: "inst", Value: "x"}: int64(1)}},
		{`#{1 2}`, []any{int64(1), int64(2)}},
		{`#{}`, []any{}},
		{`[1 #_2 3]`, []any{int64(1), int64(3)}},
		{`[1 #_ #_ 2 3 4]`, []any{int64(1), int64(4)}},
		{`#_1 2`, int64(2)},
		{`[#_[1 2]]`, []any{}},
		{`2 #_3`, int64(2)},
		{`#inst "2024-01-01T00:00:00.000-00:00"`, Tagged{Tag: "inst", Value: "2024-01-01T00:00:00.000-00:00"}},
		{`#my/tag [1]`, Tagged{Tag: "my/tag", Value: []any{int64(1)}}},
		{`#inst  ,"x"`, Tagged{Tag: "inst", Value: "x"}},
		{"; comment\n 1 ; another", int64(1)},
		{",,1,,", int64(1)},
		{"[1;c\n2]", []any{int64(1), int64(2)}},
		{nest("[", "]", ednMaxDepth), func() any {
			v := []any{}
			for range ednMaxDepth - 1 {
				v = []any{v}
			}
			return v
		}()},
	}
	for _, c := range cases {
		got, err := ParseEDN([]byte(c.in))
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseEDN(%q) = %#v, %v; want %#v", c.in, got, err, c.want)
		}
	}
	if got, err := ParseEDN([]byte("##NaN")); err != nil || !math.IsNaN(got.(float64)) {
		t.Errorf("ParseEDN(##NaN) = %v, %v", got, err)
	}
}

func TestParseEDNErrors(t *testing.T) {
	bad := []string{
		``, `   `, `; only a comment`, `1 2`, `[1] ]`, `)`, `]`, `}`, `(`, `[1`, `{:a 1`, `"abc`, `"abc\`,
		`01`, `-01`, `1/2`, `0x10`, `1.5N`, `1e`, `1e+`, `1.2.3`, `1a`, `99999999999999999999`, `-9223372036854775809`,
		`"\q"`, `"\u12"`, `"\u12g4"`, "\"\xff\"", "a\xffb", "\xff",
		`:`, `::a`, `:1`, `:a/`, `a/`, `/a`, `a/b/c`, `:a b`,
		`\a`, `[\a]`,
		`{:a}`, `{:a 1 :b}`, `{[1] 2}`, `{(1) 2}`, `{{} 2}`, `{#{} 1}`, `{#t [1] 2}`, `{:a 1 :a 2}`, `{1 1 1 2}`,
		`#`, `#_`, `#_ 1`, `[#_]`, `#1 2`, `#inst`, `#inst ]`, `#:a 1`, `#"re"`, `##Foo`, `##`, `#_ ##Foo 1`, `#?(:clj 1)`,
		nest("[", "]", ednMaxDepth+1), nest("(", ")", 1000), nest("#{", "}", ednMaxDepth+1),
		strings.Repeat("#t ", ednMaxDepth+1) + "1", strings.Repeat("#_ ", 1000) + "1",
		strings.Repeat("#_ ", ednMaxDepth+1) + strings.Repeat("1 ", ednMaxDepth+2),
	}
	for _, in := range bad {
		if got, err := ParseEDN([]byte(in)); !errors.Is(err, ErrInvalidEDN) {
			t.Errorf("ParseEDN(%q) = %#v, %v; want ErrInvalidEDN", in, got, err)
		}
	}
}

// TestEDNRoundTrip writes values and reads them back as ParseEDN's types.
func TestEDNRoundTrip(t *testing.T) {
	cases := []struct {
		in, want any
	}{
		{[]string{"a", "b"}, []any{"a", "b"}},
		{map[Keyword]any{"connected-clients": []any{map[Keyword]any{"addr": "127.0.0.1:1", "name": ""}}, "version": "0.1.0"},
			map[any]any{Keyword("connected-clients"): []any{map[any]any{Keyword("addr"): "127.0.0.1:1", Keyword("name"): ""}}, Keyword("version"): "0.1.0"}},
		{map[string]any{"a": 1}, map[any]any{"a": int64(1)}},
		{List{1, 2.5, "x\u0000y", Keyword("k"), Symbol("s"), nil, true}, List{int64(1), 2.5, "x\x00y", Keyword("k"), Symbol("s"), nil, true}},
		{1.0, 1.0},
		{1e-7, 1e-7},
		{math.MaxFloat64, math.MaxFloat64},
		{"all \"the\" \\ escapes\n\t\r\x1f", "all \"the\" \\ escapes\n\t\r\x1f"},
	}
	for _, c := range cases {
		text, err := AppendEDN(nil, c.in)
		if err != nil {
			t.Fatalf("AppendEDN(%#v): %v", c.in, err)
		}
		got, err := ParseEDN(text)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s read back as %#v, %v; want %#v", text, got, err, c.want)
		}
	}
}

func TestMetaEDN(t *testing.T) {
	cases := []struct {
		m    FuncMeta
		text string
		back FuncMeta // what ParseMetaEDN makes of text
	}{
		{FuncMeta{Name: "ns.api/add", Doc: "Adds a and b.", Params: []string{"a", "b"}},
			`{:arglists ([a b]) :doc "Adds a and b." :name add}`,
			FuncMeta{Name: "add", Doc: "Adds a and b.", Params: []string{"a", "b"}}},
		{FuncMeta{Name: "ns/log", Params: []string{"fmt", "..."}},
			`{:arglists ([fmt & more]) :name log}`,
			FuncMeta{Name: "log", Params: []string{"fmt", "..."}}},
		{FuncMeta{Name: "ns/all", Params: []string{"..."}},
			`{:arglists ([& more]) :name all}`,
			FuncMeta{Name: "all", Params: []string{"..."}}},
		{FuncMeta{Name: "ns/now"},
			`{:arglists ([]) :name now}`,
			FuncMeta{Name: "now"}},
		{FuncMeta{Name: "plain", Params: []string{"a b", "&", "...", "x"}},
			`{:arglists (["a b" "&" ... x]) :name plain}`,
			FuncMeta{Name: "plain", Params: []string{"a b", "&", "...", "x"}}},
		{FuncMeta{Name: "ns/bad name"},
			`{:arglists ([]) :name "bad name"}`,
			FuncMeta{Name: "bad name"}},
		{FuncMeta{Name: "ns/"},
			`{:arglists ([]) :name "ns/"}`,
			FuncMeta{Name: "ns/"}},
	}
	for _, c := range cases {
		text, err := AppendEDN(nil, MetaEDN(c.m))
		if err != nil || string(text) != c.text {
			t.Errorf("MetaEDN(%+v) = %s, %v; want %s", c.m, text, err, c.text)
			continue
		}
		v, err := ParseEDN(text)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseMetaEDN(v)
		if err != nil || !reflect.DeepEqual(back, c.back) {
			t.Errorf("ParseMetaEDN(%s) = %+v, %v; want %+v", text, back, err, c.back)
		}
		// The map itself, before it becomes text, reads the same.
		if direct, err := ParseMetaEDN(MetaEDN(c.m)); err != nil || !reflect.DeepEqual(direct, c.back) {
			t.Errorf("ParseMetaEDN(MetaEDN(%+v)) = %+v, %v", c.m, direct, err)
		}
	}
}

// TestParseMetaEDNSlacker reads meta answers as slacker's Clojure servers
// print them.
func TestParseMetaEDNSlacker(t *testing.T) {
	cases := []struct {
		text string
		want FuncMeta
	}{
		{`{:name add, :doc "adds", :arglists ([a b] [a b c])}`, FuncMeta{Name: "add", Doc: "adds", Params: []string{"a", "b"}}},
		{`{:arglists ([x & more]), :name f}`, FuncMeta{Name: "f", Params: []string{"x", "..."}}},
		{`{:arglists ([x &]), :name f}`, FuncMeta{Name: "f", Params: []string{"x", "..."}}},
		{`{:arglists ([{:keys [a]} [b c]]), :name g}`, FuncMeta{Name: "g", Params: []string{"{:keys [a]}", "[b c]"}}},
		{`{:arglists [(a)], :name "h", :doc nil}`, FuncMeta{Name: "h", Params: []string{"a"}}},
		{`{:name ns/f :arglists ()}`, FuncMeta{Name: "ns/f"}},
		{`{:doc "only a doc"}`, FuncMeta{Doc: "only a doc"}},
		{`{:name f :extra #inst "2024"}`, FuncMeta{Name: "f"}},
		{`{:name f :arglists ([#t [1] y])}`, FuncMeta{Name: "f", Params: []string{"#t [1]", "y"}}},
	}
	for _, c := range cases {
		v, err := ParseEDN([]byte(c.text))
		if err != nil {
			t.Fatalf("%s: %v", c.text, err)
		}
		got, err := ParseMetaEDN(v)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseMetaEDN(%s) = %+v, %v; want %+v", c.text, got, err, c.want)
		}
	}
	for _, text := range []string{`nil`, `{}`} {
		v, _ := ParseEDN([]byte(text))
		if _, err := ParseMetaEDN(v); !errors.Is(err, ErrNotFound) {
			t.Errorf("ParseMetaEDN(%s): %v, want ErrNotFound", text, err)
		}
	}
	for _, text := range []string{`[1]`, `"f"`, `{:name 1}`, `{:doc 2}`, `{:arglists 3}`, `{:arglists (1)}`} {
		v, err := ParseEDN([]byte(text))
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		if got, err := ParseMetaEDN(v); !errors.Is(err, ErrInvalidEDN) {
			t.Errorf("ParseMetaEDN(%s) = %+v, %v; want ErrInvalidEDN", text, got, err)
		}
	}
}

func FuzzParseEDN(f *testing.F) {
	seeds := []string{
		`nil`, `true`, `-12`, `1.5e3`, `1N`, `2.5M`, `##Inf`, `"a\n\u00e9\ud83d\ude00"`, `:ns/k`, `ns/sym`, `&`,
		`(1 [2 {:a #{3}}])`, `{:name add :doc "adds" :arglists ([a b & more])}`, `[1 #_2 3]`, `#inst "2024"`,
		"; c\n[1,2]", `{:connected-clients ({:addr "1.2.3.4:5" :name "" :version "0.17.0"})}`,
		`("a/b" "a/c")`, `{:a 1 :a 2}`, `\c`, `#`, `[[[[`, `"\`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := ParseEDN(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidEDN) {
				t.Fatalf("error %v does not wrap ErrInvalidEDN", err)
			}
			return
		}
		// Whatever was read writes back, and reads back the same.
		text, err := AppendEDN(nil, v)
		if err != nil {
			t.Fatalf("%q read as %#v, which does not write: %v", data, v, err)
		}
		if !utf8.Valid(text) {
			t.Fatalf("%#v wrote invalid UTF-8 %q", v, text)
		}
		again, err := ParseEDN(text)
		if err != nil {
			t.Fatalf("%q read as %#v, written %s, which does not read: %v", data, v, text, err)
		}
		text2, err := AppendEDN(nil, again)
		if err != nil || string(text2) != string(text) {
			t.Fatalf("%s read back and written as %s, %v", text, text2, err)
		}
		ParseMetaEDN(v) // must not panic
	})
}
