package client

import (
	"errors"
	"strings"

	"github.com/slacker-lua/slacker-lua/transport"
)

// RemoteError is an error the server answered a call with: its result code
// and, for an exception, the message the function failed with. It matches
// the sentinel of its code with errors.Is: a *RemoteError with Code
// transport.CodeNotFound is ErrNotFound.
type RemoteError = transport.RemoteError

// Sentinel errors of the server's result codes. They are the transport
// package's, so errors.Is works with either name.
var (
	ErrNotFound         = transport.ErrNotFound         // no such function; also Meta of a function not served
	ErrException        = transport.ErrException        // the function failed; RemoteError.Message says why
	ErrThreadPoolFull   = transport.ErrThreadPoolFull   // the server could not queue the call
	ErrCanceled         = transport.ErrCanceled         // the server cancelled the call: interrupted, or past its deadline
	ErrProtocolMismatch = transport.ErrProtocolMismatch // the server does not speak the client's version
	ErrInvalidPacket    = transport.ErrInvalidPacket    // the server could not decode or serve the request
	ErrACLReject        = transport.ErrACLReject        // the server's access rules refuse the call
)

// Errors of the client itself.
var (
	// ErrClosed is returned by calls on a closed client, and by the calls
	// that were waiting when Close was called.
	ErrClosed = errors.New("client: closed")

	// ErrConnLost fails every call waiting for its answer when the
	// connection breaks. The error wraps the cause too (io.EOF, a read or
	// write error, a keepalive timeout). The call may or may not have run
	// on the server, unless the error matches ErrNotSent as well: then its
	// request was not written in full, and the server can't have run it.
	ErrConnLost = errors.New("client: connection lost")

	// ErrNotSent matches the error of a call the client did not send: the
	// call did not run, and making it again, on this server or another,
	// runs it once. ErrNotConnected and ErrTooManyPending match it, and so
	// does an ErrConnLost whose request was not written. (ErrClosed does
	// not: it also fails calls that were sent.)
	ErrNotSent = errors.New("client: the request was not sent")

	// ErrNotConnected is returned at once by calls made while the client
	// is reconnecting; the call was not sent. The error also says why the
	// last attempt to connect failed.
	ErrNotConnected error = notSent("client: not connected")

	// ErrTooManyPending is returned at once by a call made while
	// Config.MaxPending calls wait for their answers; the call was not sent.
	ErrTooManyPending error = notSent("client: too many pending calls")

	// ErrUnexpectedReply fails a call the server answered with a packet of
	// the wrong type for it, such as a pong to a request.
	ErrUnexpectedReply = errors.New("client: unexpected reply")
)

// ErrServerTLS is matched by the error of the calls of a client without
// Config.TLS whose server speaks TLS: its first answer is a TLS record, or
// it closed the connection before answering anything and a TLS handshake
// with it succeeds (see firstReadFailed).
var ErrServerTLS = errors.New("client: the server speaks TLS")

// serverTLSError is ErrServerTLS, for the server at addr, with what the
// reader got (cause).
type serverTLSError struct {
	addr  string
	cause error
}

func (e *serverTLSError) Error() string {
	return "the server at " + e.addr + " speaks TLS, and this client does not: set Config.TLS (the CLI's --tls-ca)"
}
func (e *serverTLSError) Unwrap() error        { return e.cause }
func (e *serverTLSError) Is(target error) bool { return target == ErrServerTLS }

// ServerError is the error of a cluster client's call (package cluster)
// on one of its servers: it names the server, and wraps what went wrong there, so errors.Is
// matches the sentinels as it does for a Client's errors.
type ServerError struct {
	Addr string // the server's, host:port
	Err  error
}

func (e *ServerError) Error() string {
	return "client: server " + e.Addr + ": " + strings.TrimPrefix(e.Err.Error(), "client: ")
}
func (e *ServerError) Unwrap() error { return e.Err }

// notSent is a sentinel error that matches ErrNotSent too.
type notSent string

func (e notSent) Error() string        { return string(e) }
func (e notSent) Is(target error) bool { return target == ErrNotSent }

// errKeepalive is the cause of a connection closed because the server
// answered nothing, pings included, for two ping intervals.
var errKeepalive = errors.New("client: no answer to keepalive pings")
