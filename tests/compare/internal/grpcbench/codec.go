package grpcbench

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// AddRequest asks for A + B.
type AddRequest struct{ A, B int64 }

// AddReply is the sum.
type AddReply struct{ Sum int64 }

// EchoMessage is the string echoed, both ways.
type EchoMessage struct{ S string }

// Codec encodes the messages of this package in protobuf's wire format.
// Its name is "proto", gRPC's default content-subtype, so what it sends
// is what a gRPC client of the generated code would.
type Codec struct{}

var errInvalid = errors.New("grpcbench: invalid message")

// Name returns "proto".
func (Codec) Name() string { return "proto" }

// Marshal encodes one of this package's messages.
func (Codec) Marshal(v any) ([]byte, error) {
	switch m := v.(type) {
	case *AddRequest:
		b := make([]byte, 0, 2*(1+protowire.SizeVarint(^uint64(0))))
		b = appendInt64(b, 1, m.A)
		return appendInt64(b, 2, m.B), nil
	case *AddReply:
		b := make([]byte, 0, 1+protowire.SizeVarint(^uint64(0)))
		return appendInt64(b, 1, m.Sum), nil
	case *EchoMessage:
		if m.S == "" {
			return []byte{}, nil
		}
		b := make([]byte, 0, 1+protowire.SizeBytes(len(m.S)))
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		return protowire.AppendString(b, m.S), nil
	}
	return nil, fmt.Errorf("grpcbench: cannot marshal %T", v)
}

func appendInt64(b []byte, field protowire.Number, n int64) []byte {
	if n == 0 {
		return b // proto3 omits zero values
	}
	b = protowire.AppendTag(b, field, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(n))
}

// Unmarshal decodes one of this package's messages, skipping unknown
// fields as protobuf does.
func (Codec) Unmarshal(data []byte, v any) error {
	switch m := v.(type) {
	case *AddRequest:
		*m = AddRequest{}
		return eachField(data, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
			switch {
			case num == 1 && typ == protowire.VarintType:
				return consumeInt64(b, &m.A)
			case num == 2 && typ == protowire.VarintType:
				return consumeInt64(b, &m.B)
			}
			return -1, nil
		})
	case *AddReply:
		*m = AddReply{}
		return eachField(data, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
			if num == 1 && typ == protowire.VarintType {
				return consumeInt64(b, &m.Sum)
			}
			return -1, nil
		})
	case *EchoMessage:
		*m = EchoMessage{}
		return eachField(data, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
			if num != 1 || typ != protowire.BytesType {
				return -1, nil
			}
			s, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return 0, protowire.ParseError(n)
			}
			if !utf8.Valid(s) {
				return 0, fmt.Errorf("%w: string field s is not UTF-8", errInvalid)
			}
			m.S = string(s)
			return n, nil
		})
	}
	return fmt.Errorf("grpcbench: cannot unmarshal into %T", v)
}

// eachField calls field for each field of a message, with the bytes after
// its tag. field returns how many of them the value took, or -1 to skip a
// field it does not know.
func eachField(data []byte, field func(protowire.Number, protowire.Type, []byte) (int, error)) error {
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return fmt.Errorf("%w: %v", errInvalid, protowire.ParseError(n))
		}
		data = data[n:]
		n, err := field(num, typ, data)
		if err != nil {
			return fmt.Errorf("%w: %v", errInvalid, err)
		}
		if n < 0 {
			if n = protowire.ConsumeFieldValue(num, typ, data); n < 0 {
				return fmt.Errorf("%w: %v", errInvalid, protowire.ParseError(n))
			}
		}
		data = data[n:]
	}
	return nil
}

func consumeInt64(b []byte, dst *int64) (int, error) {
	v, n := protowire.ConsumeVarint(b)
	if n < 0 {
		return 0, protowire.ParseError(n)
	}
	*dst = int64(v)
	return n, nil
}
