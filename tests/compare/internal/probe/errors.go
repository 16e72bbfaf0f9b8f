package probe

import "errors"

var (
	// ErrTooLarge is returned when a frame's size is over MaxBody; nothing
	// of its body is read.
	ErrTooLarge = errors.New("probe: frame too large")
	// ErrClosed is returned by calls on a closed client.
	ErrClosed = errors.New("probe: client closed")
	// ErrServerClosed is returned by Serve after Close.
	ErrServerClosed = errors.New("probe: server closed")
	// ErrBadReply is returned when a reply's op or body is not one the
	// request can have.
	ErrBadReply = errors.New("probe: bad reply")
)

// RemoteError is an OpError reply: the server's message.
type RemoteError string

func (e RemoteError) Error() string { return "probe: server: " + string(e) }
