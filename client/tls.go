package client

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/slacker-lua/slacker-lua/transport"
)

// tlsProbeTimeout bounds the TLS handshake firstReadFailed tries.
const tlsProbeTimeout = time.Second

// firstReadFailed returns the error of a connection whose first packet
// could not be read (err), told apart when the server speaks TLS and the
// client does not: the first byte is a TLS record's (an alert, 21, or a
// handshake, 22, neither a slacker version), or the server closed the
// connection before answering anything, as Go's TLS servers do with a
// client that does not say hello in TLS, and a TLS handshake with it
// succeeds. The handshake verifies nothing and sends nothing but its
// hello: it only asks whether the server speaks TLS.
func (c *Client) firstReadFailed(err error) error {
	if c.cfg.TLS != nil {
		return err
	}
	var fe *transport.FrameError
	if errors.As(err, &fe) && errors.Is(err, transport.ErrUnsupportedVersion) && (fe.Version == 21 || fe.Version == 22) {
		return &serverTLSError{addr: c.addr, cause: err}
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, syscall.ECONNRESET) {
		return err
	}
	if speaksTLS(c.addr) {
		return &serverTLSError{addr: c.addr, cause: err}
	}
	return err
}

// speaksTLS reports whether a TLS handshake with addr succeeds, or fails
// with the server's TLS alert (as when it wants a client certificate).
func speaksTLS(addr string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), tlsProbeTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	defer nc.Close()
	host, _, _ := net.SplitHostPort(addr)
	tc := tls.Client(nc, &tls.Config{ServerName: host, InsecureSkipVerify: true}) //nolint:gosec // nothing is sent but a hello
	err = tc.HandshakeContext(ctx)
	var alert tls.AlertError
	return err == nil || errors.As(err, &alert)
}
