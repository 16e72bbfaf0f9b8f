package main

import (
	"runtime/debug"
	"testing"
)

func TestVersionLine(t *testing.T) {
	set := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	for _, tc := range []struct {
		info *debug.BuildInfo
		want string
	}{
		{&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.2.0"}}, "slacker-lua v0.2.0 (go1.26.8)"},
		{&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.2.0"}, Settings: set("vcs.revision", "52923d7a4a635be731d9fe2d87ee3b243d3b49ec", "vcs.modified", "false")},
			"slacker-lua v0.2.0 (revision 52923d7a4a63, go1.26.8)"},
		{&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: set("vcs", "git", "vcs.revision", "abc", "vcs.modified", "true")},
			"slacker-lua (devel) (revision abc, modified, go1.26.8)"},
		{&debug.BuildInfo{}, "slacker-lua (devel)"},
		{nil, "slacker-lua (unknown version: built without module information)"},
	} {
		if got := versionLine(tc.info); got != tc.want {
			t.Errorf("versionLine(%+v) = %q, want %q", tc.info, got, tc.want)
		}
	}
}

func TestAdminURL(t *testing.T) {
	for _, tc := range []struct {
		in      string
		withTLS bool
		want    string // "" for an error
	}{
		{"http://10.0.0.5:2105", false, "http://10.0.0.5:2105"},
		{"https://10.0.0.5:2105/", false, "https://10.0.0.5:2105"},
		{"10.0.0.5:2105", false, "http://10.0.0.5:2105"},
		{"10.0.0.5:2105", true, "https://10.0.0.5:2105"},
		{"[::1]:2105", false, "http://[::1]:2105"},
		{"10.0.0.5", false, ""},
		{"ftp://10.0.0.5:2105", false, ""},
		{"http://", false, ""},
		{"foo bar", false, ""},
	} {
		got, err := adminURL(tc.in, tc.withTLS)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("adminURL(%q, %v) = %q, %v; want %q", tc.in, tc.withTLS, got, err, tc.want)
		}
	}
}
