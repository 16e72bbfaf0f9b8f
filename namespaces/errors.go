package namespaces

import (
	"errors"
	"strings"

	"github.com/slacker-lua/slacker-lua/transport"
)

// Sentinel errors of the package; check them with errors.Is.
var (
	// ErrBadName: a file or namespace name that is not a valid namespace
	// name (see [NameOf]). The error says which name and why.
	ErrBadName = errors.New("namespaces: invalid namespace name")
	// ErrClosed: the registry was closed.
	ErrClosed = errors.New("namespaces: registry closed")
	// ErrWatched: Watch was called for a registry that has a Watcher.
	ErrWatched = errors.New("namespaces: registry already watched")
)

// ClashError reports files that would serve the same namespace, such as
// a/b.lua and a.b.lua, as the Err of a [Failure] of each. [Open] serves
// none of them; a [Watcher] keeps serving the file it served first.
type ClashError struct {
	Name string // the namespace
	// Paths are the files, slash paths under the folder, sorted. A single
	// path means the namespace is served by Set or SetGo.
	Paths []string
}

func (e *ClashError) Error() string {
	var b strings.Builder
	b.WriteString(e.Name)
	if len(e.Paths) == 1 {
		b.WriteString(" is defined by ")
		b.WriteString(e.Paths[0])
		b.WriteString(" and served by Set or SetGo")
		return b.String()
	}
	b.WriteString(" is defined by ")
	if len(e.Paths) == 2 {
		b.WriteString("both ")
	}
	for i, p := range e.Paths {
		switch {
		case i == 0:
		case i == len(e.Paths)-1:
			b.WriteString(" and ")
		default:
			b.WriteString(", ")
		}
		b.WriteString(p)
	}
	return b.String()
}

// notFoundError is a call of a function the registry doesn't serve. It
// wraps transport.ErrNotFound, so a server answers with the result code
// not-found.
type notFoundError struct{ name string }

func notFound(name string) error { return &notFoundError{name} }

func (e *notFoundError) Error() string { return e.name + ": not found" }
func (e *notFoundError) Unwrap() error { return transport.ErrNotFound }

// codeError gives err the result code of a transport sentinel, keeping
// err's text and its chain: errors.Is matches both.
type codeError struct{ code, err error }

func (e *codeError) Error() string   { return e.err.Error() }
func (e *codeError) Unwrap() []error { return []error{e.code, e.err} }
