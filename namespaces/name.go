package namespaces

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// LibDir is the folder, directly under the folder [Open] serves, that holds
// the modules Lua's require loads: require("util.text") loads
// DIR/_lib/util/text.lua. It is never served.
const LibDir = "_lib"

// NameOf returns the namespace a file serves, given the file's slash path
// relative to the served folder. Folders and dots both separate the parts of
// the name, so "slacker/example/api.lua", "slacker.example.api.lua" and
// "slacker/example.api.lua" all serve "slacker.example.api".
//
// The path must end in ".lua" and every part of the name must be non-empty,
// valid UTF-8 without whitespace, control characters or backslashes, and
// must not start with "_" (LibDir and other helper files) or "." (hidden
// files). Other paths are an error wrapping [ErrBadName].
func NameOf(rel string) (string, error) {
	base, ok := strings.CutSuffix(rel, ".lua")
	if !ok {
		return "", badName(rel, "not a .lua file")
	}
	for seg := range strings.SplitSeq(base, "/") {
		if seg == "" {
			return "", badName(rel, "empty path element")
		}
		if seg[0] == '.' {
			return "", badName(rel, strconv.Quote(seg)+" is hidden")
		}
		for part := range strings.SplitSeq(seg, ".") {
			if why := checkPart(part); why != "" {
				return "", badName(rel, why)
			}
		}
	}
	return strings.ReplaceAll(base, "/", "."), nil
}

// checkName reports whether name is a namespace name NameOf could give.
func checkName(name string) error {
	for part := range strings.SplitSeq(name, ".") {
		if why := checkPart(part); why != "" {
			return badName(name, why)
		}
	}
	return nil
}

// checkPart returns why part can't be a part of a namespace name, or "".
func checkPart(part string) string {
	switch {
	case part == "":
		return "empty name part"
	case part[0] == '_':
		return strconv.Quote(part) + ` starts with "_"`
	case !utf8.ValidString(part):
		return strconv.Quote(part) + " is not valid UTF-8"
	}
	for _, r := range part {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == '\\' || r == '/' {
			return fmt.Sprintf("%q contains %q", part, r)
		}
	}
	return ""
}

func badName(name, why string) error {
	return fmt.Errorf("%w %q: %s", ErrBadName, name, why)
}
