package transport

import (
	"math"
	"strings"
	"testing"

	"github.com/slacker-lua/slacker-lua/internal/clojuretest"
)

func TestEDNDecode(t *testing.T) {
	cases := []decodeCase{
		{"nil", `nil`, nil, false},
		{"booleans", `[true false]`, []any{true, false}, false},
		{"integers", `[0 -7 +7 9223372036854775807 -9223372036854775808 100N]`, []any{int64(0), int64(-7), int64(7), int64(math.MaxInt64), int64(math.MinInt64), int64(100)}, false},
		{"above int64", `9223372036854775808`, uint64(1 << 63), false},
		{"max uint64", `18446744073709551615N`, uint64(math.MaxUint64), false},
		{"above uint64", `18446744073709551616`, nil, true},
		{"below int64", `-9223372036854775809`, nil, true},
		{"leading zero", `012`, nil, true},
		{"hex", `0x1F`, nil, true},
		{"floats", `[1.5 -0.25 1e3 2E-1 1.5M]`, []any{1.5, -0.25, 1000.0, 0.2, 1.5}, false},
		{"symbolic floats", `[##Inf ##-Inf]`, []any{math.Inf(1), math.Inf(-1)}, false},
		{"unknown symbolic", `##Nope`, nil, true},
		{"ratio", `1/4`, 0.25, false},
		{"negative ratio", `-3/4`, -0.75, false},
		{"ratio over zero", `1/0`, nil, true},
		{"strings", `["héllo" "" "a\"b\\c\n\t\r\b\f" "\u00e9\ud83d\ude00"]`, []any{"héllo", "", "a\"b\\c\n\t\r\b\f", "é😀"}, false},
		{"bad escape", `"\q"`, nil, true},
		{"unterminated string", `"abc`, nil, true},
		{"invalid UTF-8", "\"\xff\"", nil, true},
		{"keywords", `[:a :ns/kw :a.b/c-d?]`, []any{"a", "ns/kw", "a.b/c-d?"}, false},
		{"bad keyword", `:`, nil, true},
		{"symbols", `[sym ns/sym + - / <=]`, []any{"sym", "ns/sym", "+", "-", "/", "<="}, false},
		{"characters", `[\c \newline \space \tab \return \formfeed \backspace \u00e9 \o101 \( \é]`, []any{"c", "\n", " ", "\t", "\r", "\f", "\b", "é", "A", "(", "é"}, false},
		{"bad character", `\nope`, nil, true},
		{"vector list set", `[[1] (2) #{3}]`, []any{[]any{int64(1)}, []any{int64(2)}, []any{int64(3)}}, false},
		{"empty collections", `[[] () #{} {}]`, []any{[]any{}, []any{}, []any{}, map[string]any{}}, false},
		{"keyword and string keys", `{:a 1 "b c" 2 d 3 \e 4}`, map[string]any{"a": int64(1), "b c": int64(2), "d": int64(3), "e": int64(4)}, false},
		{"nil values", `{:k {:l [1 {:m nil}]}}`, map[string]any{"k": map[string]any{"l": []any{int64(1), map[string]any{"m": nil}}}}, false},
		{"other keys", `{1 :a, true nil, 1.5 [], nil 2, "s" 3}`, map[any]any{int64(1): "a", true: nil, 1.5: []any{}, nil: int64(2), "s": int64(3)}, false},
		{"duplicate keys", `{:a 1 :a 2}`, nil, true},
		{"keyword and string of one name", `{:a 1 "a" 2}`, nil, true},
		{"collection key", `{[1] 2}`, nil, true},
		{"NaN key", `{##NaN 1}`, nil, true},
		{"odd map", `{:a}`, nil, true},
		{"inst", `#inst "2024-01-02T03:04:05.678-00:00"`, "2024-01-02T03:04:05.678Z", false},
		{"inst with an offset", `#inst "2024-01-02T05:04:05.6+02:00"`, "2024-01-02T03:04:05.600Z", false},
		{"inst of a day", `#inst "2024-01-02"`, "2024-01-02T00:00:00.000Z", false},
		{"bad inst", `#inst "yesterday"`, nil, true},
		{"uuid", `#uuid "6BA7B810-9dad-11d1-80b4-00c04fd430c8"`, "6ba7b810-9dad-11d1-80b4-00c04fd430c8", false},
		{"bad uuid", `#uuid "6ba7b810"`, nil, true},
		{"tag without a string", `#inst 1`, nil, true},
		{"unknown tag", `#my/tag [1]`, nil, true},
		{"metadata", `^:m [1]`, nil, true},
		{"discard", `[1 #_ 2 #_#_ 3 4 5]`, []any{int64(1), int64(5)}, false},
		{"discard at the end", `[1 #_]`, nil, true},
		{"comments and commas", "; a call\n[1, 2,, 3] ; done", []any{int64(1), int64(2), int64(3)}, false},
		{"empty", ``, nil, true},
		{"only a comment", `; nothing`, nil, true},
		{"trailing value", `1 2`, nil, true},
		{"unclosed", `[1 2`, nil, true},
		{"unexpected close", `]`, nil, true},
		{"mismatched", `[1)`, nil, true},
		{"lone hash", `#`, nil, true},
		{"reader conditional", `#?(:clj 1)`, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got any
			err := EDN.Unmarshal([]byte(c.in), &got)
			checkDecode(t, c, got, err)
			if err != nil && !strings.HasPrefix(err.Error(), "transport: invalid EDN: ") {
				t.Errorf("error %q", err)
			}
		})
	}
}

func TestEDNDepth(t *testing.T) {
	deep := func(n int) []byte { return []byte(strings.Repeat("[", n) + strings.Repeat("]", n)) }
	var v any
	if err := EDN.Unmarshal(deep(ednCodecMaxDepth), &v); err != nil {
		t.Fatalf("depth %d: %v", ednCodecMaxDepth, err)
	}
	if err := EDN.Unmarshal(deep(ednCodecMaxDepth+1), &v); err == nil {
		t.Fatalf("depth %d: no error", ednCodecMaxDepth+1)
	}
}

func TestEDNMarshal(t *testing.T) {
	type point struct {
		X int    `json:"x"`
		Y string `json:"y,omitempty"`
	}
	cases := []struct {
		in   any
		want string
	}{
		{nil, `nil`},
		{true, `true`},
		{int64(-3), `-3`},
		{uint64(math.MaxUint64), `18446744073709551615`},
		{1.5, `1.5`},
		{2.0, `2.0`},
		{1e300, `1e+300`},
		{math.NaN(), `##NaN`},
		{[]any{math.Inf(1), math.Inf(-1)}, `[##Inf ##-Inf]`},
		{"a\"b\\c\n\x01é", `"a\"b\\c\n\u0001é"`},
		{[]byte{1, 2, 3}, `"AQID"`},
		{[]any{}, `[]`},
		{map[string]any{}, `{}`},
		{map[string]any{"b": int64(1), "a": []any{nil}, "a b": "x", "ns/k": nil, "1": 2, "": 3}, `{"" 3 "1" 2 "a b" "x" :a [nil] :b 1 :ns/k nil}`},
		{map[any]any{int64(1): "a", "b": map[any]any{true: uint64(2), 1.5: nil}}, `{1 "a" :b {1.5 nil true 2}}`},
		{[]string{"x"}, `["x"]`},
		{point{X: 2}, `{:x 2}`},
		{map[string]int{"n": 1}, `{:n 1}`},
	}
	for _, c := range cases {
		got, err := EDN.Marshal(c.in)
		if err != nil || string(got) != c.want {
			t.Errorf("Marshal(%#v) = %s, %v; want %s", c.in, got, err, c.want)
		}
	}
	for _, bad := range []any{make(chan int), []any{func() {}}} {
		if got, err := EDN.Marshal(bad); err == nil {
			t.Errorf("Marshal(%#v) = %s, want an error", bad, got)
		}
	}
}

// ednClojureCases are EDN texts as Clojure callers write them, what the
// codec decodes them to, and what Clojure reads back from the codec's
// encoding of that value, printed by pr-str.
var ednClojureCases = []struct {
	in   string
	want any
	back string
}{
	{`nil`, nil, `nil`},
	{`[true false]`, []any{true, false}, `[true false]`},
	{`[0 -1 9223372036854775807 -9223372036854775808]`, []any{int64(0), int64(-1), int64(math.MaxInt64), int64(math.MinInt64)}, `[0 -1 9223372036854775807 -9223372036854775808]`},
	{`18446744073709551615N`, uint64(math.MaxUint64), `18446744073709551615N`},
	{`100N`, int64(100), `100`},
	{`[1.5 0.1 -0.0 1.0E300 2.5M]`, []any{1.5, 0.1, math.Copysign(0, -1), 1e300, 2.5}, `[1.5 0.1 -0.0 1.0E300 2.5]`},
	{`[##Inf ##-Inf]`, []any{math.Inf(1), math.Inf(-1)}, `[##Inf ##-Inf]`},
	{`1/3`, 1.0 / 3, `0.3333333333333333`},
	{`"héllo \"q\"\n\t\\ ☃ 😀"`, "héllo \"q\"\n\t\\ ☃ 😀", `"héllo \"q\"\n\t\\ ☃ 😀"`},
	{`"\u0001\u007f"`, "\x01\x7f", "\"\x01\x7f\""},
	{`[:kw :ns/kw]`, []any{"kw", "ns/kw"}, `["kw" "ns/kw"]`},
	{`[sym ns/sym]`, []any{"sym", "ns/sym"}, `["sym" "ns/sym"]`},
	{`[\c \newline \space \é]`, []any{"c", "\n", " ", "é"}, `["c" "\n" " " "é"]`},
	{`#{7}`, []any{int64(7)}, `[7]`},
	{`(1 (2) [])`, []any{int64(1), []any{int64(2)}, []any{}}, `[1 [2] []]`},
	{`{:a 1, :b [1 2.5 nil "x" true]}`, map[string]any{"a": int64(1), "b": []any{int64(1), 2.5, nil, "x", true}}, `{:a 1, :b [1 2.5 nil "x" true]}`},
	{`{:k {:l [1 {:m nil}]}}`, map[string]any{"k": map[string]any{"l": []any{int64(1), map[string]any{"m": nil}}}}, `{:k {:l [1 {:m nil}]}}`},
	{`{"a b" 1, "c" 2, ns/k 3}`, map[string]any{"a b": int64(1), "c": int64(2), "ns/k": int64(3)}, `{"a b" 1, :c 2, :ns/k 3}`},
	{`{1 "one", true nil, nil 2}`, map[any]any{int64(1): "one", true: nil, nil: int64(2)}, `{1 "one", nil 2, true nil}`},
	{`{}`, map[string]any{}, `{}`},
	{`#inst "2024-01-02T03:04:05.678-00:00"`, "2024-01-02T03:04:05.678Z", `"2024-01-02T03:04:05.678Z"`},
	{`#uuid "6ba7b810-9dad-11d1-80b4-00c04fd430c8"`, "6ba7b810-9dad-11d1-80b4-00c04fd430c8", `"6ba7b810-9dad-11d1-80b4-00c04fd430c8"`},
	{`#inst "2024-01-02T05:04:05.6+02:00"`, "2024-01-02T03:04:05.600Z", `"2024-01-02T03:04:05.600Z"`},
	{`#inst "2024-01-02"`, "2024-01-02T00:00:00.000Z", `"2024-01-02T00:00:00.000Z"`},
	{`[\u00e9 \o101 \tab \( #_ discarded 1]`, []any{"é", "A", "\t", "(", int64(1)}, `["é" "A" "\t" "(" 1]`},
	{`{:a 1 #_ :b #_ 2}`, map[string]any{"a": int64(1)}, `{:a 1}`},
}

// ednClojureProgram reads lines of two EDN texts separated by a tab, and
// prints each read by clojure.edn/read-string and printed by pr-str.
const ednClojureProgram = `
(require '[clojure.edn :as edn] '[clojure.string :as str])
(doseq [line (line-seq (java.io.BufferedReader. *in*))]
  (let [[a b] (str/split line #"\t")]
    (println (str (pr-str (edn/read-string (edn/read-string a))) "\t"
                  (pr-str (edn/read-string (edn/read-string b)))))))
`

// TestEDNClojure checks the codec against Clojure's own reader and
// printer: it decodes what Clojure prints of each case as it decodes the
// case, and Clojure reads the codec's encoding of the decoded value as
// expected.
func TestEDNClojure(t *testing.T) {
	var in strings.Builder
	for _, c := range ednClojureCases {
		var got any
		if err := EDN.Unmarshal([]byte(c.in), &got); err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		if !sameValue(got, c.want, false) {
			t.Fatalf("%s decoded to %#v, want %#v", c.in, got, c.want)
		}
		ours, err := EDN.Marshal(c.want)
		if err != nil {
			t.Fatalf("Marshal(%#v): %v", c.want, err)
		}
		// Each text travels as an EDN string, so that it fits on a line.
		in.WriteString(ednQuote(c.in) + "\t" + ednQuote(string(ours)) + "\n")
	}
	out := clojuretest.Run(t, ednClojureProgram, []byte(in.String()))
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(ednClojureCases) {
		t.Fatalf("%d lines for %d cases:\n%s", len(lines), len(ednClojureCases), out)
	}
	for i, c := range ednClojureCases {
		printed, back, _ := strings.Cut(lines[i], "\t")
		var got any
		if err := EDN.Unmarshal([]byte(printed), &got); err != nil || !sameValue(got, c.want, false) {
			t.Errorf("%s: Clojure printed %s, which decodes to %#v, %v; want %#v", c.in, printed, got, err, c.want)
		}
		if back != c.back {
			t.Errorf("%#v: Clojure read the codec's encoding as %s, want %s", c.want, back, c.back)
		}
	}
}

func ednQuote(s string) string {
	b, _ := AppendEDN(nil, s)
	return string(b)
}

// FuzzEDNDecode checks the EDN pre-scan and decoder: no input panics, the
// estimate is at least what decoding allocates, and a decoded value
// encodes to text that decodes to the same value.
func FuzzEDNDecode(f *testing.F) {
	addSeeds(f, "edn")
	for _, c := range ednClojureCases {
		f.Add([]byte(c.in))
	}
	for _, bodies := range shapes() {
		if b := bodies[2]; b != nil && len(b) < 4096 {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _, serr := ednScan(data)
		v, err := ednDecode(data, -1)
		if serr != nil {
			if err == nil {
				t.Fatalf("%q: the scan refuses it (%v), the decoder does not", data, serr)
			}
			return
		}
		checkEstimate(t, EDN, data)
		if err != nil {
			return
		}
		b, err := EDN.Marshal(v)
		if err != nil {
			t.Fatalf("%q decoded to %#v, which does not encode: %v", data, v, err)
		}
		again, err := ednDecode(b, -1)
		if err != nil || !sameValue(v, again, false) {
			t.Fatalf("%q: %#v encoded as %s, which decodes to %#v, %v", data, v, b, again, err)
		}
	})
}

func BenchmarkEDNMarshal(b *testing.B)   { benchmarkMarshal(b, EDN) }
func BenchmarkEDNUnmarshal(b *testing.B) { benchmarkUnmarshal(b, EDN) }
