package otlp

import (
	"encoding/hex"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// Span is a span as Decode reads it from an ExportTraceServiceRequest.
type Span struct {
	TraceID, SpanID, ParentSpanID string // hex; ParentSpanID "" for a root
	Name                          string
	Kind                          int // OTLP's: 2 server, 3 client
	Attributes                    map[string]any
	Events                        []Event
	StatusCode                    int // 0 unset, 1 ok, 2 error
	StatusMessage                 string
	Resource                      map[string]any // its resource's attributes
	Scope                         string         // its instrumentation scope's name
}

// Event is a span's event.
type Event struct {
	Name       string
	Attributes map[string]any
}

// Decode reads the spans of an ExportTraceServiceRequest, as a
// collector would: for tests, and receivers of their own.
func Decode(b []byte) ([]Span, error) {
	var out []Span
	err := fields(b, func(num protowire.Number, v []byte) error {
		if num != 1 {
			return nil
		}
		var res map[string]any
		var scopes [][]byte
		if err := fields(v, func(num protowire.Number, v []byte) error {
			switch num {
			case 1:
				var err error
				res, err = attributes(v, 1)
				return err
			case 2:
				scopes = append(scopes, v)
			}
			return nil
		}); err != nil {
			return err
		}
		for _, ss := range scopes {
			var scope string
			var spans [][]byte
			if err := fields(ss, func(num protowire.Number, v []byte) error {
				switch num {
				case 1:
					return fields(v, func(num protowire.Number, v []byte) error {
						if num == 1 {
							scope = string(v)
						}
						return nil
					})
				case 2:
					spans = append(spans, v)
				}
				return nil
			}); err != nil {
				return err
			}
			for _, sb := range spans {
				s, err := decodeSpan(sb)
				if err != nil {
					return err
				}
				s.Resource, s.Scope = res, scope
				out = append(out, s)
			}
		}
		return nil
	})
	return out, err
}

func decodeSpan(b []byte) (Span, error) {
	s := Span{Attributes: map[string]any{}}
	err := fieldsN(b, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
		switch num {
		case 1:
			s.TraceID = hex.EncodeToString(v)
		case 2:
			s.SpanID = hex.EncodeToString(v)
		case 4:
			s.ParentSpanID = hex.EncodeToString(v)
		case 5:
			s.Name = string(v)
		case 6:
			s.Kind = int(n)
		case 9:
			k, val, err := keyValueOf(v)
			if err != nil {
				return err
			}
			s.Attributes[k] = val
		case 11:
			var ev Event
			ev.Attributes = map[string]any{}
			if err := fields(v, func(num protowire.Number, v []byte) error {
				switch num {
				case 2:
					ev.Name = string(v)
				case 3:
					k, val, err := keyValueOf(v)
					if err != nil {
						return err
					}
					ev.Attributes[k] = val
				}
				return nil
			}); err != nil {
				return err
			}
			s.Events = append(s.Events, ev)
		case 15:
			return fieldsN(v, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
				switch num {
				case 2:
					s.StatusMessage = string(v)
				case 3:
					s.StatusCode = int(n)
				}
				return nil
			})
		}
		return nil
	})
	return s, err
}

// attributes reads the KeyValues of field num of b.
func attributes(b []byte, num protowire.Number) (map[string]any, error) {
	out := map[string]any{}
	err := fields(b, func(n protowire.Number, v []byte) error {
		if n != num {
			return nil
		}
		k, val, err := keyValueOf(v)
		out[k] = val
		return err
	})
	return out, err
}

// keyValueOf reads a KeyValue: strings, bools, int64s and float64s.
func keyValueOf(b []byte) (string, any, error) {
	var key string
	var val any
	err := fields(b, func(num protowire.Number, v []byte) error {
		switch num {
		case 1:
			key = string(v)
		case 2:
			return fieldsN(v, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
				switch num {
				case 1:
					val = string(v)
				case 2:
					val = n != 0
				case 3:
					val = int64(n)
				case 4:
					val = math.Float64frombits(n)
				}
				return nil
			})
		}
		return nil
	})
	return key, val, err
}

// fields calls f with each length-delimited field of b.
func fields(b []byte, f func(num protowire.Number, v []byte) error) error {
	return fieldsN(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ != protowire.BytesType {
			return nil
		}
		return f(num, v)
	})
}

// fieldsN calls f with each field of b: its bytes if length-delimited,
// else its number.
func fieldsN(b []byte, f func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error) error {
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return fmt.Errorf("otlp: %w", protowire.ParseError(l))
		}
		b = b[l:]
		var v []byte
		var n uint64
		switch typ {
		case protowire.BytesType:
			v, l = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			n, l = protowire.ConsumeVarint(b)
		case protowire.Fixed64Type:
			n, l = protowire.ConsumeFixed64(b)
		case protowire.Fixed32Type:
			var n32 uint32
			n32, l = protowire.ConsumeFixed32(b)
			n = uint64(n32)
		default:
			l = protowire.ConsumeFieldValue(num, typ, b)
		}
		if l < 0 {
			return fmt.Errorf("otlp: %w", protowire.ParseError(l))
		}
		b = b[l:]
		if err := f(num, typ, v, n); err != nil {
			return err
		}
	}
	return nil
}
