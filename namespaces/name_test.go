package namespaces

import (
	"errors"
	"testing"
)

func TestNameOf(t *testing.T) {
	tests := []struct {
		rel  string
		want string // "" for an error
	}{
		{"api.lua", "api"},
		{"slacker/example/api.lua", "slacker.example.api"},
		{"slacker.example.api.lua", "slacker.example.api"},
		{"slacker/example.api.lua", "slacker.example.api"},
		{"slacker.example/api.lua", "slacker.example.api"},
		{"a/b/c/d/e.lua", "a.b.c.d.e"},
		{"rand-ints.lua", "rand-ints"},
		{"x_y/z.lua", "x_y.z"},
		{"héllo/世界.lua", "héllo.世界"},
		{"a.lua.lua", "a.lua"},

		{"api.txt", ""},
		{"api.LUA", ""},
		{"api", ""},
		{".lua", ""},
		{"a/.lua", ""},
		{"/api.lua", ""},
		{"a//b.lua", ""},
		{"a/", ""},
		{"a..b.lua", ""},
		{"a.b..lua", ""},
		{"a./b.lua", ""},
		{".api.lua", ""},
		{".hidden/api.lua", ""},
		{"./api.lua", ""},
		{"../api.lua", ""},
		{"_lib/util.lua", ""},
		{"a/_private.lua", ""},
		{"a._b.lua", ""},
		{"my api.lua", ""},
		{"a/b\tc.lua", ""},
		{"a\nb.lua", ""},
		{"a\x00.lua", ""},
		{"a\\b.lua", ""},
		{"a\xffb.lua", ""},
	}
	for _, tt := range tests {
		got, err := NameOf(tt.rel)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("NameOf(%q) = %q, want an error", tt.rel, got)
		case tt.want == "" && !errors.Is(err, ErrBadName):
			t.Errorf("NameOf(%q): %v, want ErrBadName", tt.rel, err)
		case tt.want != "" && (err != nil || got != tt.want):
			t.Errorf("NameOf(%q) = %q, %v, want %q", tt.rel, got, err, tt.want)
		}
	}
}

func TestNameOfError(t *testing.T) {
	_, err := NameOf("a/_b.lua")
	want := `namespaces: invalid namespace name "a/_b.lua": "_b" starts with "_"`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}
