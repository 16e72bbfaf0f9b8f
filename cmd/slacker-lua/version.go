package main

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

func runVersion(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("version", "",
		"Prints the module version of the binary, the commit it was built from and\n"+
			"the Go it was built with, as the Go toolchain recorded them:\n"+
			"  slacker-lua v0.2.0 (revision 52923d7abcde, go1.26.8)\n"+
			"A binary built from a clone has a pseudo-version or (devel), and says\n"+
			"\"modified\" when the clone had uncommitted changes. -V and --version print\n"+
			"the same.", stderr)
	if code, done := parseCommandLine(fs, args, stdout, nargs{0, 0, "no arguments"}); done {
		return code
	}
	info, _ := debug.ReadBuildInfo() // nil without
	fmt.Fprintln(stdout, versionLine(info))
	return exitOK
}

// versionLine is what version prints of info, the binary's build
// information (nil if it has none).
func versionLine(info *debug.BuildInfo) string {
	if info == nil {
		return "slacker-lua (unknown version: built without module information)"
	}
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var about []string
	settings := make(map[string]string)
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		about = append(about, "revision "+rev[:min(12, len(rev))])
	}
	if settings["vcs.modified"] == "true" {
		about = append(about, "modified")
	}
	if info.GoVersion != "" {
		about = append(about, info.GoVersion)
	}
	if len(about) == 0 {
		return "slacker-lua " + v
	}
	return fmt.Sprintf("slacker-lua %s (%s)", v, strings.Join(about, ", "))
}
