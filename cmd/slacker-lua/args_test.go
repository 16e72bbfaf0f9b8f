package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestParseArgs checks the rules of argHelp, one case each.
func TestParseArgs(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "arg.json")
	if err := os.WriteFile(file, []byte(`{"a": [1, 2.5]}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, "broken.json")
	if err := os.WriteFile(broken, []byte(`[1, 2`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args  []string
		raw   bool
		stdin string
		want  []any
		err   string // a part of the error; "" for none
	}{
		{args: []string{"hello", "a b c", ""}, want: []any{"hello", "a b c", ""}},
		{args: []string{"1", "-2", "2.5", "1e3", "true", "false", "null"}, want: []any{int64(1), int64(-2), 2.5, 1000.0, true, false, nil}},
		{args: []string{`"quoted"`, `[1,"x"]`, ` {"a":{"b":null}} `}, want: []any{"quoted", []any{int64(1), "x"}, map[string]any{"a": map[string]any{"b": nil}}}},
		{args: []string{"1.2.3", "True", "v1", "@"}, want: []any{"1.2.3", "True", "v1", "@"}},
		{args: []string{`{"a": 1,}`}, err: `argument {"a": 1,} is not valid JSON: invalid character '}'`},
		{args: []string{`[1, 2`}, err: "argument [1, 2 is not valid JSON: unexpected end of JSON input"},
		{args: []string{`"open`}, err: `argument "open is not valid JSON`},
		{args: []string{"012"}, err: "argument 012 is not valid JSON"},
		{args: []string{"[1] [2]"}, err: "more after the JSON value"},
		{args: []string{"@" + file}, want: []any{map[string]any{"a": []any{int64(1), 2.5}}}},
		{args: []string{"@" + broken}, err: broken + ": not valid JSON: unexpected end of JSON input"},
		{args: []string{"@" + dir + "/missing"}, err: "argument @" + dir + "/missing: no such file or directory"},
		{args: []string{"-", "x"}, stdin: `[true]`, want: []any{[]any{true}, "x"}},
		{args: []string{"-"}, stdin: `nope`, err: "stdin: not valid JSON"},
		{args: []string{"-", "-"}, stdin: `1`, err: "- given twice"},
		{args: []string{"1", `{"a":`, "null"}, raw: true, want: []any{"1", `{"a":`, "null"}},
		{args: []string{"-"}, raw: true, stdin: "text\n", want: []any{"text\n"}},
		{args: []string{"@" + broken}, raw: true, want: []any{"[1, 2"}},
	} {
		got, err := parseArgs(tc.args, tc.raw, strings.NewReader(tc.stdin))
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q (raw %v): %v", tc.args, tc.raw, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q (raw %v): error %v, want one with %q", tc.args, tc.raw, err, tc.err)
		case tc.err == "" && !reflect.DeepEqual(got, tc.want):
			t.Errorf("%q (raw %v) = %#v, want %#v", tc.args, tc.raw, got, tc.want)
		}
	}
}

func TestCheckFunction(t *testing.T) {
	for name, ok := range map[string]bool{"a/b": true, "a.b.c/d-e": true, "a/b/c": true, "ns": false, "ns/": false, "/fn": false, "": false, "/": false} {
		if err := checkFunction(name); (err == nil) != ok {
			t.Errorf("checkFunction(%q) = %v", name, err)
		}
	}
}
