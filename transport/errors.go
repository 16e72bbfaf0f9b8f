package transport

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Code is a result code, carried by response and error packets.
type Code uint8

// Result codes.
const (
	CodeSuccess          Code = 0
	CodeNotFound         Code = 11
	CodeException        Code = 12
	CodeThreadPoolFull   Code = 13
	CodeCanceled         Code = 14
	CodeProtocolMismatch Code = 20
	CodeInvalidPacket    Code = 21
	CodeACLReject        Code = 22
)

// Sentinel errors for the result codes. A handler returns an error wrapping
// one of them to choose the code its caller sees; clients return a
// *RemoteError that matches them with errors.Is.
var (
	ErrNotFound         = errors.New("slacker: not found")
	ErrException        = errors.New("slacker: exception")
	ErrThreadPoolFull   = errors.New("slacker: thread pool full")
	ErrCanceled         = errors.New("slacker: canceled")
	ErrProtocolMismatch = errors.New("slacker: protocol mismatch")
	ErrInvalidPacket    = errors.New("slacker: invalid packet")
	ErrACLReject        = errors.New("slacker: acl reject")
)

// codes is the one table between result codes and errors.
var codes = []struct {
	code Code
	err  error
	name string
}{
	{CodeNotFound, ErrNotFound, "not-found"},
	{CodeException, ErrException, "exception"},
	{CodeThreadPoolFull, ErrThreadPoolFull, "thread-pool-full"},
	{CodeCanceled, ErrCanceled, "canceled"},
	{CodeProtocolMismatch, ErrProtocolMismatch, "protocol-mismatch"},
	{CodeInvalidPacket, ErrInvalidPacket, "invalid-packet"},
	{CodeACLReject, ErrACLReject, "acl-reject"},
}

func (c Code) String() string {
	if c == CodeSuccess {
		return "success"
	}
	for _, e := range codes {
		if e.code == c {
			return e.name
		}
	}
	return fmt.Sprintf("result-code(%d)", uint8(c))
}

// Err returns the sentinel error of c, nil for CodeSuccess, and an error
// naming the code for codes this package does not know.
func (c Code) Err() error {
	if c == CodeSuccess {
		return nil
	}
	for _, e := range codes {
		if e.code == c {
			return e.err
		}
	}
	return fmt.Errorf("slacker: unknown result code %d", uint8(c))
}

// CodeOf returns the result code a handler's error stands for: the code of
// the sentinel it wraps, CodeCanceled for a cancelled or expired context, and
// CodeException for anything else.
func CodeOf(err error) Code {
	if err == nil {
		return CodeSuccess
	}
	for _, e := range codes {
		if errors.Is(err, e.err) {
			return e.code
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return CodeCanceled
	}
	return CodeException
}

// RemoteError is an error reported by the server: its result code and, for
// exceptions, the message the function failed with.
type RemoteError struct {
	Code Code
	// Message is, for an exception, the message the function failed
	// with; for other codes, what the client that got the answer knows
	// of why, if anything.
	Message string
	// Name is the function called, "namespace/function", as the client
	// that got the answer sets it; "" if unknown.
	Name string
}

// Error reads "client: NAME: not found", or "client: NAME: exception:
// MESSAGE"; without a Name, "slacker: remote not-found".
func (e *RemoteError) Error() string {
	var msg string
	if e.Name == "" {
		msg = "slacker: remote " + e.Code.String()
	} else {
		msg = "client: " + e.Name + ": " + strings.ReplaceAll(e.Code.String(), "-", " ")
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// Is reports whether target is the sentinel error of e's code.
func (e *RemoteError) Is(target error) bool {
	return target != nil && target == e.Code.Err()
}

// Errors returned while decoding frames. A decoder error means framing is
// lost: the connection cannot be read further.
var (
	ErrUnsupportedVersion = errors.New("transport: unsupported protocol version")
	ErrUnknownPacketType  = errors.New("transport: unknown packet type")
	ErrFieldTooLarge      = errors.New("transport: field too large")
	ErrTooManyExtensions  = errors.New("transport: too many extensions")
)

// Why the server closed a connection, as its log says.
var (
	ErrHandshakeTimeout = errors.New("transport: no frame, or no accepted token, within the handshake timeout")
	ErrIdleTimeout      = errors.New("transport: idle timeout")
	ErrAuthFailures     = errors.New("transport: too many refused tokens")
)

// Errors returned while encoding packets and serializing values.
var (
	ErrUnknownContentType = errors.New("transport: unknown content type")
	ErrServerClosed       = errors.New("transport: server closed")
)

// ErrBodyTooComplex is wrapped by the error of [DecodeArgs] for a body whose
// decoded arguments would take more memory than its budget: the server
// answers the call exception "arguments too large to decode: ...".
var ErrBodyTooComplex = errors.New("transport: arguments too large to decode")
