package transport

import "unicode/utf8"

// Limits bounds the length fields of incoming frames. Each is checked before
// the field is read or allocated; a frame over a limit fails to decode with
// an error wrapping ErrFieldTooLarge or ErrTooManyExtensions.
type Limits struct {
	// MaxNameSize bounds a request's function name, in bytes. Default 1024.
	MaxNameSize int
	// MaxBodySize bounds a request or response body, in bytes.
	// Default 16 MiB.
	MaxBodySize int
	// MaxExtensions bounds the extensions of one v6 packet. Default 16.
	MaxExtensions int
	// MaxFieldSize bounds every other length-prefixed field: extension
	// values, hello and auth strings, inspect arguments and inspect-ack data.
	// Default 64 KiB (the most a u16 prefix can say).
	MaxFieldSize int
}

// Default limits.
const (
	DefaultMaxNameSize   = 1024
	DefaultMaxBodySize   = 16 << 20
	DefaultMaxExtensions = 16
	DefaultMaxFieldSize  = 1<<16 - 1
)

// MaxHelloString bounds the client name and version a server keeps of a
// client-hello, in bytes: a longer one is cut to it, at a UTF-8 character
// boundary, so that the clients inspect command lists every peer in
// little room.
const MaxHelloString = 256

// cutHello cuts s to MaxHelloString bytes, at a character boundary.
func cutHello(s string) string {
	if len(s) <= MaxHelloString {
		return s
	}
	n := MaxHelloString
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func (l Limits) withDefaults() Limits {
	if l.MaxNameSize <= 0 {
		l.MaxNameSize = DefaultMaxNameSize
	}
	if l.MaxBodySize <= 0 {
		l.MaxBodySize = DefaultMaxBodySize
	}
	if l.MaxExtensions <= 0 {
		l.MaxExtensions = DefaultMaxExtensions
	}
	if l.MaxFieldSize <= 0 || l.MaxFieldSize > DefaultMaxFieldSize {
		l.MaxFieldSize = DefaultMaxFieldSize
	}
	return l
}
