package transport

import (
	"fmt"
	"strings"
)

// Version is the protocol version, the first byte of every packet.
type Version uint8

// Protocol versions this package speaks.
const (
	V5 Version = 5
	V6 Version = 6
)

// PacketType is the packet type, the sixth byte of every packet.
type PacketType uint8

// Packet types. Version 5 has no hellos.
const (
	TypeRequest     PacketType = 0
	TypeResponse    PacketType = 1
	TypePing        PacketType = 2
	TypePong        PacketType = 3
	TypeError       PacketType = 4
	TypeAuthReq     PacketType = 5
	TypeAuthAck     PacketType = 6
	TypeInspectReq  PacketType = 7
	TypeInspectAck  PacketType = 8
	TypeInterrupt   PacketType = 9
	TypeClientHello PacketType = 10
	TypeServerHello PacketType = 11
)

var packetTypeNames = [...]string{
	"request", "response", "ping", "pong", "error", "auth-req", "auth-ack",
	"inspect-req", "inspect-ack", "interrupt", "client-hello", "server-hello",
}

func (t PacketType) String() string {
	if int(t) < len(packetTypeNames) {
		return packetTypeNames[t]
	}
	return fmt.Sprintf("packet-type(%d)", uint8(t))
}

// ContentType is the serialization of a request's arguments and its
// response's result. The response always uses the request's content type.
type ContentType uint8

// Content types. JSON, EDN and nippy are slacker's codes (slacker names EDN
// "clj"); msgpack uses a code slacker never assigned.
const (
	ContentJSON    ContentType = 1
	ContentEDN     ContentType = 2
	ContentNippy   ContentType = 3
	ContentMsgpack ContentType = 16
)

// String returns the content type's name: json, clj (slacker's name for
// EDN), nippy or msgpack.
func (c ContentType) String() string {
	switch c {
	case ContentJSON:
		return "json"
	case ContentEDN:
		return "clj"
	case ContentNippy:
		return "nippy"
	case ContentMsgpack:
		return "msgpack"
	}
	return fmt.Sprintf("content-type(%d)", uint8(c))
}

// ParseContentType returns the content type named name, as String writes
// it, in any case; "edn" also names ContentEDN. The error wraps
// ErrUnknownContentType.
func ParseContentType(name string) (ContentType, error) {
	switch strings.ToLower(name) {
	case "json":
		return ContentJSON, nil
	case "clj", "edn":
		return ContentEDN, nil
	case "nippy":
		return ContentNippy, nil
	case "msgpack":
		return ContentMsgpack, nil
	}
	return 0, fmt.Errorf("%w %q: want json, clj, nippy or msgpack", ErrUnknownContentType, name)
}

// InspectCommand selects what an inspect request asks for.
type InspectCommand uint8

// Inspect commands.
const (
	InspectFunctions InspectCommand = 0 // function names starting with a prefix
	InspectMeta      InspectCommand = 1 // one function's name, doc and parameters
	InspectClients   InspectCommand = 2 // the server's connected clients
)

// Auth results carried by an auth-ack packet.
const (
	AuthOK     uint8 = 0
	AuthReject uint8 = 1
)

// DeadlineExtension is the extension id slacker clients use for a call's
// deadline: its value is the deadline in Unix milliseconds, serialized in the
// request's content type.
const DeadlineExtension int16 = -1

// TraceParentExtension and TraceStateExtension are the extension ids of
// a call's W3C trace context: a traceparent and a tracestate, each a
// string serialized in the request's content type (see package tracectx).
// A server reads them into the call's context; a value that is not a
// string, or a traceparent that is not well formed, is ignored.
const (
	TraceParentExtension int16 = -2
	TraceStateExtension  int16 = -3
)

// Sizes of fixed fields, in bytes.
const (
	HeaderSize = 6 // version u8, tid i32, packet type u8
)

// Extension is one v6 call extension: an id and an opaque value serialized in
// the request's content type. The server echoes a request's extensions in its
// response.
type Extension struct {
	ID    int16
	Value []byte
}

// Packet is one frame of any type. Fields a packet type does not carry are
// zero; PROTOCOL.md lists which fields each type carries, in wire order.
type Packet struct {
	Version Version
	TID     int32
	Type    PacketType

	ContentType ContentType // request, response
	Name        string      // request: the function, "namespace/function"
	Code        Code        // response, error: the result code
	// Body is the request's argument array or the response's result
	// (serialized in ContentType), the inspect-req argument or the
	// inspect-ack data (EDN).
	Body       []byte
	Extensions []Extension // v6 request and response

	Command       InspectCommand // inspect-req
	TargetTID     int32          // interrupt: the tid of the call to cancel
	ClientVersion string         // client-hello
	ClientName    string         // client-hello
	ServerVersion string         // server-hello
	Token         string         // auth-req
	AuthResult    uint8          // auth-ack: AuthOK or AuthReject
}
