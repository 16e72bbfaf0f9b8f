package pattern

import "errors"

// Kinds of [Error]: check them with errors.Is.
var (
	// ErrMalformed: the pattern is not a valid Lua pattern.
	ErrMalformed = errors.New("pattern: malformed")
	// ErrTooComplex: matching nested deeper than MaxDepth.
	ErrTooComplex = errors.New("pattern: too complex")
)

// Error is a pattern that can't be compiled or matched. Its message is
// Lua's, so that it can be raised as the Lua error unchanged.
type Error struct {
	Msg  string // Lua's message: "malformed pattern (ends with '%')"
	Kind error  // ErrMalformed or ErrTooComplex
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the kind.
func (e *Error) Unwrap() error { return e.Kind }

func malformed(msg string) error { return &Error{Msg: msg, Kind: ErrMalformed} }

var errTooComplex = &Error{Msg: "pattern too complex", Kind: ErrTooComplex}
