package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"testing"
	"testing/iotest"
)

// fuzzLimits are small, so that the fuzzer reaches them.
var fuzzLimits = Limits{MaxNameSize: 64, MaxBodySize: 256, MaxExtensions: 4, MaxFieldSize: 32}

// FuzzDecode decodes arbitrary streams of frames. Whatever the input, the
// decoder must not panic, must decode the same packets and fail the same way
// whether it reads the stream whole or one byte at a time, and every packet
// it decodes must encode and decode back to itself.
func FuzzDecode(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add(v.bytes(f))
	}
	var stream []byte
	for _, p := range allPackets() {
		b := mustAppend(f, &p)
		f.Add(b)
		stream = append(stream, b...)
	}
	f.Add(stream)
	f.Add([]byte{})
	f.Add([]byte{7})
	f.Add([]byte{5, 0, 0, 0, 1, 10})                                          // v5 has no hellos
	f.Add([]byte{6, 0, 0, 0, 1, 12})                                          // no type 12
	f.Add([]byte{6, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 5})                   // more extensions than the limit
	f.Add([]byte{6, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0, 1}) // extension value cut short
	f.Add(binary.BigEndian.AppendUint32([]byte{6, 0, 0, 0, 1, 1, 1, 0}, 1<<31))

	f.Fuzz(func(t *testing.T, data []byte) {
		whole, errWhole := decodeAll(bytes.NewReader(data), fuzzLimits)
		bytewise, errBytewise := decodeAll(iotest.OneByteReader(bytes.NewReader(data)), fuzzLimits)
		if !reflect.DeepEqual(whole, bytewise) {
			t.Fatalf("whole and bytewise reads decode differently:\n%+v\n%+v", whole, bytewise)
		}
		if !sameDecodeError(errWhole, errBytewise) {
			t.Fatalf("whole and bytewise reads fail differently: %v, %v", errWhole, errBytewise)
		}
		if errWhole != io.EOF {
			var fe *FrameError
			if !errors.As(errWhole, &fe) {
				t.Fatalf("error %v (%T) is neither io.EOF nor a *FrameError", errWhole, errWhole)
			}
		}
		for _, p := range whole {
			b, err := AppendPacket(nil, &p)
			if err != nil {
				t.Fatalf("decoded packet %+v does not encode: %v", p, err)
			}
			again, err := decodeAll(bytes.NewReader(b), fuzzLimits)
			if err != io.EOF || len(again) != 1 || !reflect.DeepEqual(again[0], p) {
				t.Fatalf("round trip of %+v: %+v, %v", p, again, err)
			}
		}
	})
}

// sameDecodeError reports whether two decoding errors are the same error:
// the same header and message.
func sameDecodeError(a, b error) bool {
	var fa, fb *FrameError
	if errors.As(a, &fa) != errors.As(b, &fb) {
		return false
	}
	if fa == nil {
		return a == b
	}
	return fa.HeaderRead == fb.HeaderRead && fa.Version == fb.Version && fa.TID == fb.TID &&
		fa.Type == fb.Type && fa.Error() == fb.Error()
}
