package engine

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// Script is a compiled namespace file. It is immutable and may be loaded
// into any number of namespaces.
type Script struct {
	Name string // the namespace name
	Path string // the file; also Lua's chunk name, so error messages say "Path:line:"
	Hash string // hex SHA-256 of the source

	proto *lua.FunctionProto
	lines []string // the source, for doc comments
}

// Compile compiles the source of a namespace file. A syntax error is a
// *LoadError with the file and line. Nothing is run.
func Compile(name, path string, src []byte) (*Script, error) {
	if path == "" {
		path = name
	}
	proto, err := compile(path, src, scanLimits{})
	if err != nil {
		return nil, err
	}
	return &Script{
		Name:  name,
		Path:  path,
		Hash:  Hash(src),
		proto: proto,
		lines: splitLines(src),
	}, nil
}

// compile parses and compiles a Lua chunk whose chunk name is path. Source
// that scanSource refuses with lim is a *LoadError at the line the scan
// stopped on, and gopher-lua never sees it.
func compile(path string, src []byte, lim scanLimits) (proto *lua.FunctionProto, err error) {
	if serr := scanSource(src, lim); serr != nil {
		return nil, &LoadError{Path: path, Line: serr.line, Msg: serr.msg}
	}
	defer func() {
		// The parser and the compiler report errors by panicking; the
		// parser turns a panic that is not an error into no error at all.
		if r := recover(); r != nil {
			proto, err = nil, &LoadError{Path: path, Msg: fmt.Sprint("compiler failed: ", r)}
		}
	}()
	chunk, err := parse.Parse(bytes.NewReader(src), path)
	if err != nil {
		return nil, syntaxError(path, src, err)
	}
	proto, err = lua.Compile(chunk, path)
	if err != nil {
		return nil, syntaxError(path, src, err)
	}
	return proto, nil
}

func syntaxError(path string, src []byte, err error) *LoadError {
	var perr *parse.Error
	var cerr *lua.CompileError
	switch {
	case errors.As(err, &perr):
		// The lexer reports errors at the end of the input with line -1 (or
		// one past the last line): use the last line.
		last := bytes.Count(src, []byte{'\n'}) + 1
		if len(src) > 0 && src[len(src)-1] == '\n' {
			last--
		}
		le := &LoadError{Path: path, Line: perr.Pos.Line, Msg: perr.Message}
		switch {
		case perr.Pos.Line == parse.EOF:
			le.Line = last
			le.Msg += " near <eof>"
		case perr.Token != "":
			le.Msg += " near '" + perr.Token + "'"
		}
		le.Line = min(le.Line, last)
		return le
	case errors.As(err, &cerr):
		return &LoadError{Path: path, Line: cerr.Line, Msg: cerr.Message}
	}
	return &LoadError{Path: path, Msg: err.Error()}
}

// Hash is the version of a file's source, as Script.Hash and Module.Hash
// give it: its hex SHA-256.
func Hash(src []byte) string {
	sum := sha256.Sum256(src)
	return hex.EncodeToString(sum[:])
}

func splitLines(src []byte) []string {
	return strings.Split(string(src), "\n")
}

// docAbove returns the doc comment of a function defined at line (1-based):
// the consecutive lines starting with "---" right above it, without the
// "---" and one following space, joined with "\n".
func docAbove(lines []string, line int) string {
	first := line - 1 // index of the line above, 0-based: line-2
	for first-1 >= 0 && first-1 < len(lines) && isDocLine(lines[first-1]) {
		first--
	}
	if first >= line-1 {
		return ""
	}
	doc := make([]string, 0, line-1-first)
	for _, l := range lines[first : line-1] {
		l = strings.TrimLeft(l, " \t")
		l = strings.TrimPrefix(l, "---")
		l = strings.TrimPrefix(l, " ")
		doc = append(doc, strings.TrimRight(l, " \t\r"))
	}
	return strings.Join(doc, "\n")
}

func isDocLine(l string) bool {
	return strings.HasPrefix(strings.TrimLeft(l, " \t"), "---")
}
