package client

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/slacker-lua/slacker-lua/transport"
)

// Config configures a Client. The zero value works; each field says what
// zero means. Negative durations and counts are errors, not special values.
type Config struct {
	// ContentType serializes call arguments and results:
	// transport.ContentJSON, ContentEDN (slacker's "clj", the default of
	// slacker's Clojure client and so the one its servers are sure to
	// take), ContentNippy or ContentMsgpack (slacker-lua only), or any
	// content type one of Codecs has. Zero means transport.ContentJSON.
	ContentType transport.ContentType

	// Version is the protocol version of every packet the client sends:
	// transport.V6 or transport.V5. Zero means V6. Version 5 has no
	// extensions and no hellos, so no client-hello is sent and calls carry
	// no deadline: the server runs them under its own timeout.
	Version transport.Version

	// Timeout bounds a call whose ctx has no deadline: the call fails with
	// an error wrapping context.DeadlineExceeded once it has waited that
	// long. Zero means 10s, slacker's default. In version 6 every call's
	// deadline (ctx's, or now plus Timeout) is sent to the server in the
	// deadline extension, so the server stops working on it in time too.
	Timeout time.Duration

	// MaxPending bounds the calls (and inspect requests and pings) waiting
	// for their answer at once. Past it Call fails at once with
	// ErrTooManyPending rather than waiting. Zero means 5000, slacker's
	// backlog.
	MaxPending int

	// PingInterval is how often an idle connection is checked: when
	// nothing arrived from the server during an interval, the client sends a
	// ping. When still nothing (no pong, no reply) has arrived two
	// intervals after a ping, the connection is closed as lost and the
	// client reconnects. Zero means 15s.
	PingInterval time.Duration

	// DialTimeout bounds each attempt to connect, both in Dial and when
	// reconnecting. Zero means 5s.
	DialTimeout time.Duration

	// Reconnect sets the delays between attempts to connect again after
	// the connection was lost. See Backoff for its defaults.
	Reconnect Backoff

	// ClientName is sent to the server in the client-hello packet (version
	// 6), which lists it among its clients, cut to its first
	// transport.MaxHelloString bytes. Empty is allowed.
	ClientName string

	// Token, if not empty, is sent in an auth-req packet on every
	// connection, before any call: a server that requires a token
	// answers the calls of a connection that gave none, or a wrong one,
	// acl-reject (an error matching ErrACLReject).
	Token string

	// TLS, if set, makes every connection a TLS connection with this
	// configuration. Its ServerName defaults to the host of the address
	// dialled.
	TLS *tls.Config

	// Limits bounds the frames the client accepts from the server. Zero
	// fields take transport.Limits' defaults (16 MiB bodies).
	Limits transport.Limits

	// Codecs are the codecs the client can use. Nil means
	// transport.DefaultCodecs(): JSON and msgpack.
	Codecs []transport.Codec

	// Logger receives connection events: lost, reconnected, unexpected
	// packets. Nil means no logging.
	Logger *slog.Logger

	// Interceptors wrap every call made with Call, the first outermost
	// (see [Interceptor]).
	Interceptors []Interceptor
}

// Backoff is the delay between reconnection attempts. The delay starts at
// Min and doubles after each failed attempt up to Max; each wait is chosen
// at random between half the delay and the whole delay, so that clients
// that lost the same server don't come back in step.
type Backoff struct {
	// Min is the first delay. Zero means 50ms.
	Min time.Duration
	// Max caps the delay. Zero means 5s, or Min if Min is larger.
	Max time.Duration
}

// Defaults of Config's zero fields.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultMaxPending   = 5000
	DefaultPingInterval = 15 * time.Second
	DefaultDialTimeout  = 5 * time.Second
	DefaultReconnectMin = 50 * time.Millisecond
	DefaultReconnectMax = 5 * time.Second
)

// clientVersion is sent in client-hello packets.
const clientVersion = "slacker-lua/" + transport.ServerVersion

// Validate reports the first invalid field of c. Dial calls it, and so
// does the cluster client (package cluster) for the connections to its
// servers.
func (c Config) Validate() error {
	switch {
	case c.Version != 0 && c.Version != transport.V5 && c.Version != transport.V6:
		return fmt.Errorf("client: Version %d: want 5 or 6", uint8(c.Version))
	case c.Timeout < 0:
		return errors.New("client: negative Timeout")
	case c.MaxPending < 0:
		return errors.New("client: negative MaxPending")
	case c.PingInterval < 0:
		return errors.New("client: negative PingInterval")
	case c.DialTimeout < 0:
		return errors.New("client: negative DialTimeout")
	case c.Reconnect.Min < 0 || c.Reconnect.Max < 0:
		return errors.New("client: negative Reconnect delay")
	case c.Reconnect.Max != 0 && c.Reconnect.Min > c.Reconnect.Max:
		return errors.New("client: Reconnect.Min larger than Reconnect.Max")
	case len(c.ClientName) > transport.MaxShortField:
		return fmt.Errorf("client: ClientName longer than %d bytes", transport.MaxShortField)
	case len(c.Token) > transport.MaxShortField:
		return fmt.Errorf("client: Token longer than %d bytes", transport.MaxShortField)
	}
	for _, cd := range c.Codecs {
		if cd == nil {
			return errors.New("client: nil codec in Codecs")
		}
	}
	for _, ic := range c.Interceptors {
		if ic == nil {
			return errors.New("client: nil interceptor in Interceptors")
		}
	}
	return nil
}

// withDefaults returns c with its zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.ContentType == 0 {
		c.ContentType = transport.ContentJSON
	}
	if c.Version == 0 {
		c.Version = transport.V6
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxPending == 0 {
		c.MaxPending = DefaultMaxPending
	}
	if c.PingInterval == 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.Reconnect.Min == 0 {
		c.Reconnect.Min = DefaultReconnectMin
	}
	if c.Reconnect.Max == 0 {
		c.Reconnect.Max = max(DefaultReconnectMax, c.Reconnect.Min)
	}
	if c.Codecs == nil {
		c.Codecs = transport.DefaultCodecs()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
