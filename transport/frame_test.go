package transport

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

// vector is one entry of testdata/slacker-vectors.json.
type vector struct {
	Name   string `json:"name"`
	Hex    string `json:"hex"`
	Fields struct {
		Version     uint8  `json:"version"`
		TID         int32  `json:"tid"`
		Type        string `json:"type"`
		ContentType uint8  `json:"content_type"`
		FName       string `json:"fname"`
		Body        string `json:"body"`
		Extensions  []struct {
			ID    int16  `json:"id"`
			Value string `json:"value"`
		} `json:"extensions"`
		Code          uint8  `json:"code"`
		TargetTID     int32  `json:"target_tid"`
		ClientVersion string `json:"client_version"`
		ClientName    string `json:"client_name"`
		ServerVersion string `json:"server_version"`
		Command       uint8  `json:"command"`
		Argument      string `json:"argument"`
	} `json:"fields"`
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	data, err := os.ReadFile("testdata/slacker-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Vectors []vector `json:"vectors"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	return file.Vectors
}

func (v vector) bytes(t testing.TB) []byte {
	t.Helper()
	b, err := hex.DecodeString(v.Hex)
	if err != nil {
		t.Fatalf("%s: %v", v.Name, err)
	}
	return b
}

// packet is the Packet the vector's fields describe.
func (v vector) packet(t testing.TB) Packet {
	t.Helper()
	f := v.Fields
	typ := slices.Index(packetTypeNames[:], f.Type)
	if typ < 0 {
		t.Fatalf("%s: unknown type %q", v.Name, f.Type)
	}
	p := Packet{
		Version:       Version(f.Version),
		TID:           f.TID,
		Type:          PacketType(typ),
		ContentType:   ContentType(f.ContentType),
		Name:          f.FName,
		Code:          Code(f.Code),
		Body:          bodyOf(f.Body),
		Command:       InspectCommand(f.Command),
		TargetTID:     f.TargetTID,
		ClientVersion: f.ClientVersion,
		ClientName:    f.ClientName,
		ServerVersion: f.ServerVersion,
	}
	if p.Type == TypeInspectReq {
		p.Body = bodyOf(f.Argument)
	}
	for _, e := range f.Extensions {
		p.Extensions = append(p.Extensions, Extension{ID: e.ID, Value: bodyOf(e.Value)})
	}
	return p
}

// bodyOf is what the decoder makes of a block: nil when it is empty.
func bodyOf(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

// decodeAll decodes packets from r until an error, which it returns; io.EOF
// for a stream of whole frames.
func decodeAll(r io.Reader, lim Limits) ([]Packet, error) {
	d := NewDecoder(r, lim)
	var out []Packet
	for {
		var p Packet
		if err := d.Decode(&p); err != nil {
			return out, err
		}
		out = append(out, p)
	}
}

func decodeOne(t *testing.T, b []byte, lim Limits) (Packet, error) {
	t.Helper()
	var p Packet
	err := NewDecoder(bytes.NewReader(b), lim).Decode(&p)
	return p, err
}

func mustAppend(t testing.TB, p *Packet) []byte {
	t.Helper()
	b, err := AppendPacket(nil, p)
	if err != nil {
		t.Fatalf("AppendPacket(%+v): %v", p, err)
	}
	return b
}

func TestVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			wire, want := v.bytes(t), v.packet(t)
			got, err := decodeAll(bytes.NewReader(wire), Limits{})
			if err != io.EOF {
				t.Fatalf("decoding: %v, want io.EOF after the packet", err)
			}
			if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
				t.Fatalf("decoded %+v\nwant      %+v", got, want)
			}
			if enc := mustAppend(t, &want); !bytes.Equal(enc, wire) {
				t.Fatalf("encoded %x\nwant    %x", enc, wire)
			}
		})
	}
}

// TestVectorsSplitReads decodes every vector, and all of them in one
// stream, through readers that split reads differently.
func TestVectorsSplitReads(t *testing.T) {
	vectors := loadVectors(t)
	var stream []byte
	var want []Packet
	for _, v := range vectors {
		stream = append(stream, v.bytes(t)...)
		want = append(want, v.packet(t))
	}
	readers := map[string]func([]byte) io.Reader{
		"one byte": func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) },
		"half":     func(b []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(b)) },
		"data+err": func(b []byte) io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) },
		"tiny bufio": func(b []byte) io.Reader {
			return bufio.NewReaderSize(iotest.OneByteReader(bytes.NewReader(b)), 16)
		},
	}
	for name, mk := range readers {
		t.Run(name, func(t *testing.T) {
			got, err := decodeAll(mk(stream), Limits{})
			if err != io.EOF {
				t.Fatalf("decoding: %v, want io.EOF", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("decoded %d packets, want %d:\n%+v", len(got), len(want), got)
			}
		})
	}
	for _, v := range vectors {
		wire, want := v.bytes(t), v.packet(t)
		for i := 1; i < len(wire); i++ {
			r := io.MultiReader(bytes.NewReader(wire[:i]), bytes.NewReader(wire[i:]))
			got, err := decodeAll(r, Limits{})
			if err != io.EOF || len(got) != 1 || !reflect.DeepEqual(got[0], want) {
				t.Fatalf("%s split at %d: got %+v, %v", v.Name, i, got, err)
			}
		}
	}
}

// allPackets has a packet of every type each version knows, with every
// field its type carries set.
func allPackets() []Packet {
	var ps []Packet
	for _, v := range []Version{V5, V6} {
		var exts []Extension
		if v == V6 {
			exts = []Extension{{ID: DeadlineExtension, Value: []byte("1700000000000")}, {ID: 7, Value: nil}, {ID: math.MaxInt16, Value: []byte{0}}}
		}
		ps = append(ps,
			Packet{Version: v, TID: 1, Type: TypeRequest, ContentType: ContentMsgpack, Name: "ns/fn", Body: []byte{0x92, 1, 2}, Extensions: exts},
			Packet{Version: v, TID: -2, Type: TypeRequest, ContentType: ContentJSON, Name: "ns.é/ƒ"},
			Packet{Version: v, TID: math.MaxInt32, Type: TypeResponse, ContentType: ContentJSON, Code: CodeException, Body: []byte(`"boom"`), Extensions: exts},
			Packet{Version: v, TID: math.MinInt32, Type: TypeResponse, ContentType: ContentType(99), Code: Code(200)},
			Packet{Version: v, TID: 3, Type: TypePing},
			Packet{Version: v, TID: 3, Type: TypePong},
			Packet{Version: v, TID: 4, Type: TypeError, Code: CodeThreadPoolFull},
			Packet{Version: v, TID: 5, Type: TypeAuthReq, Token: "secret"},
			Packet{Version: v, TID: 6, Type: TypeAuthAck, AuthResult: AuthReject},
			Packet{Version: v, TID: 7, Type: TypeInspectReq, Command: InspectMeta, Body: []byte(`"ns/fn"`)},
			Packet{Version: v, TID: 7, Type: TypeInspectReq, Command: InspectClients},
			Packet{Version: v, TID: 8, Type: TypeInspectAck, Body: []byte(`["ns/fn"]`)},
			Packet{Version: v, TID: 0, Type: TypeInterrupt, TargetTID: -1},
		)
	}
	ps = append(ps,
		Packet{Version: V6, TID: 9, Type: TypeClientHello, ClientVersion: "0.17.0", ClientName: "tests"},
		Packet{Version: V6, TID: 10, Type: TypeServerHello, ServerVersion: "0.1.0"},
	)
	return ps
}

func TestRoundTrip(t *testing.T) {
	for _, p := range allPackets() {
		got, err := decodeOne(t, mustAppend(t, &p), Limits{})
		if err != nil {
			t.Fatalf("%v %v: %v", p.Version, p.Type, err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Fatalf("round trip of %v %v:\n got %+v\nwant %+v", p.Version, p.Type, got, p)
		}
	}
}

func TestAppendPacketAppends(t *testing.T) {
	ps := allPackets()
	var stream []byte
	for i := range ps {
		var err error
		if stream, err = AppendPacket(stream, &ps[i]); err != nil {
			t.Fatal(err)
		}
	}
	got, err := decodeAll(iotest.OneByteReader(bytes.NewReader(stream)), Limits{})
	if err != io.EOF || !reflect.DeepEqual(got, ps) {
		t.Fatalf("stream of all packets: %v\n got %+v\nwant %+v", err, got, ps)
	}
}

func TestV5HasNoExtensions(t *testing.T) {
	p := Packet{Version: V5, TID: 3, Type: TypeRequest, ContentType: ContentJSON, Name: "a/b", Body: []byte("[]"),
		Extensions: []Extension{{ID: DeadlineExtension, Value: []byte("1")}}}
	b := mustAppend(t, &p)
	if want := "05000000030001000361" + "2f62000000025b5d"; hex.EncodeToString(b) != want {
		t.Fatalf("encoded %x, want %s", b, want)
	}
}

// frameStart is a frame's header.
func frameStart(v Version, tid int32, typ PacketType) []byte {
	b := binary.BigEndian.AppendUint32([]byte{byte(v)}, uint32(tid))
	return append(b, byte(typ))
}

// expectFrameError checks that err is a *FrameError wrapping target with
// the header fields of want.
func expectFrameError(t *testing.T, err, target error, want FrameError) *FrameError {
	t.Helper()
	var fe *FrameError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) is not a *FrameError", err, err)
	}
	if !errors.Is(err, target) {
		t.Fatalf("error %v does not wrap %v", err, target)
	}
	if fe.HeaderRead != want.HeaderRead || fe.Version != want.Version || (want.HeaderRead && (fe.TID != want.TID || fe.Type != want.Type)) {
		t.Fatalf("error %v has header %v/%v/%d/%v, want %v/%v/%d/%v", err,
			fe.HeaderRead, fe.Version, fe.TID, fe.Type, want.HeaderRead, want.Version, want.TID, want.Type)
	}
	return fe
}

func TestFieldLimits(t *testing.T) {
	small := Limits{MaxNameSize: 8, MaxBodySize: 16, MaxExtensions: 2, MaxFieldSize: 4}
	at := func(n int) []byte { return bytes.Repeat([]byte{'x'}, n) }
	type tc struct {
		name    string
		lim     Limits
		p       Packet
		tooBig  error // nil: fits
		message string
	}
	var cases []tc
	add := func(name string, lim Limits, fits, over Packet, target error) {
		cases = append(cases, tc{name + " at limit", lim, fits, nil, ""}, tc{name + " over limit", lim, over, target, ""})
	}
	for _, v := range []Version{V5, V6} {
		add(fmt.Sprintf("v%d name", v), small,
			Packet{Version: v, TID: 11, Type: TypeRequest, Name: string(at(8))},
			Packet{Version: v, TID: 11, Type: TypeRequest, Name: string(at(9))}, ErrFieldTooLarge)
		add(fmt.Sprintf("v%d request body", v), small,
			Packet{Version: v, TID: 12, Type: TypeRequest, Body: at(16)},
			Packet{Version: v, TID: 12, Type: TypeRequest, Body: at(17)}, ErrFieldTooLarge)
		add(fmt.Sprintf("v%d response body", v), small,
			Packet{Version: v, TID: 13, Type: TypeResponse, Body: at(16)},
			Packet{Version: v, TID: 13, Type: TypeResponse, Body: at(17)}, ErrFieldTooLarge)
		add(fmt.Sprintf("v%d token", v), small,
			Packet{Version: v, TID: 14, Type: TypeAuthReq, Token: "abcd"},
			Packet{Version: v, TID: 14, Type: TypeAuthReq, Token: "abcde"}, ErrFieldTooLarge)
		add(fmt.Sprintf("v%d inspect argument", v), small,
			Packet{Version: v, TID: 15, Type: TypeInspectReq, Body: at(4)},
			Packet{Version: v, TID: 15, Type: TypeInspectReq, Body: at(5)}, ErrFieldTooLarge)
		add(fmt.Sprintf("v%d inspect data", v), small,
			Packet{Version: v, TID: 16, Type: TypeInspectAck, Body: at(4)},
			Packet{Version: v, TID: 16, Type: TypeInspectAck, Body: at(5)}, ErrFieldTooLarge)
	}
	add("extension value", small,
		Packet{Version: V6, TID: 17, Type: TypeRequest, Extensions: []Extension{{ID: 1, Value: at(4)}}},
		Packet{Version: V6, TID: 17, Type: TypeRequest, Extensions: []Extension{{ID: 1, Value: at(5)}}}, ErrFieldTooLarge)
	add("extensions", small,
		Packet{Version: V6, TID: 18, Type: TypeResponse, Extensions: make([]Extension, 2)},
		Packet{Version: V6, TID: 18, Type: TypeResponse, Extensions: make([]Extension, 3)}, ErrTooManyExtensions)
	add("client version", small,
		Packet{Version: V6, TID: 19, Type: TypeClientHello, ClientVersion: "1234"},
		Packet{Version: V6, TID: 19, Type: TypeClientHello, ClientVersion: "12345"}, ErrFieldTooLarge)
	add("client name", small,
		Packet{Version: V6, TID: 20, Type: TypeClientHello, ClientName: "1234"},
		Packet{Version: V6, TID: 20, Type: TypeClientHello, ClientName: "12345"}, ErrFieldTooLarge)
	add("server version", small,
		Packet{Version: V6, TID: 21, Type: TypeServerHello, ServerVersion: "1234"},
		Packet{Version: V6, TID: 21, Type: TypeServerHello, ServerVersion: "12345"}, ErrFieldTooLarge)
	// The default limits.
	add("default name", Limits{},
		Packet{Version: V6, TID: 22, Type: TypeRequest, Name: string(at(DefaultMaxNameSize))},
		Packet{Version: V6, TID: 22, Type: TypeRequest, Name: string(at(DefaultMaxNameSize + 1))}, ErrFieldTooLarge)
	add("default body", Limits{},
		Packet{Version: V6, TID: 23, Type: TypeRequest, Body: at(DefaultMaxBodySize)},
		Packet{Version: V6, TID: 23, Type: TypeRequest, Body: at(DefaultMaxBodySize + 1)}, ErrFieldTooLarge)
	add("default extensions", Limits{},
		Packet{Version: V6, TID: 24, Type: TypeRequest, Extensions: make([]Extension, DefaultMaxExtensions)},
		Packet{Version: V6, TID: 24, Type: TypeRequest, Extensions: make([]Extension, DefaultMaxExtensions+1)}, ErrTooManyExtensions)
	cases[len(cases)-1].message = "transport: too many extensions: 17, limit 16 (v6 request, tid 24)"
	cases = append(cases, tc{"default field at the u16 maximum", Limits{},
		Packet{Version: V6, TID: 25, Type: TypeInspectAck, Body: at(MaxShortField)}, nil, ""})
	cases = append(cases, tc{"limits above the u16 maximum are the maximum", Limits{MaxFieldSize: 1 << 20},
		Packet{Version: V6, TID: 25, Type: TypeInspectAck, Body: at(MaxShortField)}, nil, ""})

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wire := mustAppend(t, &c.p)
			got, err := decodeOne(t, wire, c.lim)
			if c.tooBig == nil {
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, c.p) {
					t.Fatalf("got %+v", got)
				}
				return
			}
			fe := expectFrameError(t, err, c.tooBig, FrameError{HeaderRead: true, Version: c.p.Version, TID: c.p.TID, Type: c.p.Type})
			if c.message != "" && fe.Error() != c.message {
				t.Fatalf("message %q, want %q", fe.Error(), c.message)
			}
			if !reflect.DeepEqual(got, Packet{Version: c.p.Version, TID: c.p.TID, Type: c.p.Type}) {
				t.Fatalf("packet after the error: %+v", got)
			}
		})
	}
}

// TestLimitCheckedBeforeRead feeds frames that end right after a length
// prefix over the limit: the error must be about the size, not the missing
// bytes, so the field was not read.
func TestLimitCheckedBeforeRead(t *testing.T) {
	cases := []struct {
		name   string
		frame  []byte
		target error
		msg    string
	}{
		{"body", binary.BigEndian.AppendUint32(append(frameStart(V6, 4, TypeRequest), 1, 0, 0), 20<<20), ErrFieldTooLarge,
			"transport: field too large: body of 20971520 bytes, limit 16777216 (v6 request, tid 4)"},
		{"4 GiB body", binary.BigEndian.AppendUint32(append(frameStart(V5, 4, TypeResponse), 1, 0), math.MaxUint32), ErrFieldTooLarge,
			"transport: field too large: body of 4294967295 bytes, limit 16777216 (v5 response, tid 4)"},
		{"name", append(frameStart(V6, 5, TypeRequest), 1, 0x04, 0x01), ErrFieldTooLarge,
			"transport: field too large: name of 1025 bytes, limit 1024 (v6 request, tid 5)"},
		{"extension count", binary.BigEndian.AppendUint32(append(frameStart(V6, 6, TypeRequest), 1, 0, 0), 0), ErrTooManyExtensions, ""},
	}
	cases[3].frame = append(cases[3].frame, 17)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := decodeOne(t, c.frame, Limits{})
			fe := expectFrameError(t, err, c.target, FrameError{HeaderRead: true, Version: Version(c.frame[0]), TID: int32(binary.BigEndian.Uint32(c.frame[1:])), Type: PacketType(c.frame[5])})
			if c.msg != "" && fe.Error() != c.msg {
				t.Fatalf("message %q\nwant    %q", fe.Error(), c.msg)
			}
		})
	}
}

// TestHugeBodyNotAllocated checks that a frame claiming a 4 GiB body costs
// memory only for the bytes that arrive, even with no limit in the way.
func TestHugeBodyNotAllocated(t *testing.T) {
	frame := binary.BigEndian.AppendUint32(append(frameStart(V6, 1, TypeRequest), 1, 0, 0), math.MaxUint32)
	frame = append(frame, make([]byte, 100)...)
	for _, lim := range []Limits{{}, {MaxBodySize: math.MaxInt}} {
		d := NewDecoder(bytes.NewReader(frame), lim)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		var p Packet
		err := d.Decode(&p)
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Fatal("decoded a frame claiming 4 GiB")
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
			t.Fatalf("limit %d: decoding allocated %d bytes (%v)", lim.MaxBodySize, n, err)
		}
	}
}

// TestLongBodyGrows decodes bodies around the size where the decoder stops
// allocating them whole.
func TestLongBodyGrows(t *testing.T) {
	for _, n := range []int{decodeChunk - 1, decodeChunk, decodeChunk + 1, 3*decodeChunk + 7, 1 << 20} {
		body := make([]byte, n)
		for i := range body {
			body[i] = byte(i * 7)
		}
		p := Packet{Version: V6, TID: 1, Type: TypeResponse, Body: body}
		got, err := decodeAll(iotest.HalfReader(bytes.NewReader(mustAppend(t, &p))), Limits{})
		if err != io.EOF || len(got) != 1 || !bytes.Equal(got[0].Body, body) || cap(got[0].Body) != n {
			t.Fatalf("body of %d: %v", n, err)
		}
	}
}

func TestTruncated(t *testing.T) {
	var frames [][]byte
	for _, v := range loadVectors(t) {
		frames = append(frames, v.bytes(t))
	}
	for _, p := range allPackets() {
		frames = append(frames, mustAppend(t, &p))
	}
	for _, frame := range frames {
		for n := range len(frame) {
			p, err := decodeOne(t, frame[:n], Limits{})
			if n == 0 {
				if err != io.EOF {
					t.Fatalf("empty stream: %v, want io.EOF", err)
				}
				continue
			}
			want := FrameError{Version: Version(frame[0]), HeaderRead: n >= HeaderSize}
			if want.HeaderRead {
				want.TID, want.Type = int32(binary.BigEndian.Uint32(frame[1:])), PacketType(frame[5])
			}
			expectFrameError(t, err, io.ErrUnexpectedEOF, want)
			if err == io.ErrUnexpectedEOF || errors.Is(err, io.EOF) {
				t.Fatalf("%x: error %v is not a wrapped io.ErrUnexpectedEOF only", frame[:n], err)
			}
			if want.HeaderRead && (p.Version != want.Version || p.TID != want.TID || p.Type != want.Type) {
				t.Fatalf("%x: packet %+v", frame[:n], p)
			}
		}
	}
}

func TestUnsupportedVersion(t *testing.T) {
	for _, b := range []byte{0, 1, 4, 7, 0x80, 0xff} {
		// Only the version byte is there: nothing after it may be read.
		p, err := decodeOne(t, []byte{b}, Limits{})
		expectFrameError(t, err, ErrUnsupportedVersion, FrameError{Version: Version(b)})
		if p.Version != 0 {
			t.Fatalf("version %d: packet %+v", b, p)
		}
	}
}

func TestUnknownPacketType(t *testing.T) {
	cases := []struct {
		v   Version
		typ PacketType
	}{{V5, TypeClientHello}, {V5, TypeServerHello}, {V5, 12}, {V6, 12}, {V6, 0xff}}
	for _, c := range cases {
		frame := append(frameStart(c.v, 77, c.typ), 0, 0, 0, 0)
		_, err := decodeOne(t, frame, Limits{})
		expectFrameError(t, err, ErrUnknownPacketType, FrameError{HeaderRead: true, Version: c.v, TID: 77, Type: c.typ})
	}
}

// timeoutReader returns its data, then a deadline error.
type timeoutReader struct{ data []byte }

func (r *timeoutReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, fmt.Errorf("read tcp: %w", os.ErrDeadlineExceeded)
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestReadErrorKept(t *testing.T) {
	full := mustAppend(t, &Packet{Version: V6, TID: 9, Type: TypeRequest, Name: "a/b", Body: []byte("[1]")})
	for _, n := range []int{0, 1, 6, 10, len(full) - 1} {
		var p Packet
		err := NewDecoder(&timeoutReader{data: full[:n]}, Limits{}).Decode(&p)
		want := FrameError{HeaderRead: n >= HeaderSize}
		if n > 0 {
			want.Version = V6
		}
		if want.HeaderRead {
			want.TID, want.Type = 9, TypeRequest
		}
		expectFrameError(t, err, os.ErrDeadlineExceeded, want)
	}
}

func TestAppendPacketErrors(t *testing.T) {
	long := strings.Repeat("x", MaxShortField+1)
	cases := []struct {
		name   string
		p      Packet
		target error
	}{
		{"version 0", Packet{Type: TypePing}, ErrUnsupportedVersion},
		{"version 7", Packet{Version: 7, Type: TypePing}, ErrUnsupportedVersion},
		{"v5 client hello", Packet{Version: V5, Type: TypeClientHello}, ErrUnknownPacketType},
		{"v5 server hello", Packet{Version: V5, Type: TypeServerHello}, ErrUnknownPacketType},
		{"v6 type 12", Packet{Version: V6, Type: 12}, ErrUnknownPacketType},
		{"name", Packet{Version: V5, Type: TypeRequest, Name: long}, ErrFieldTooLarge},
		{"extensions", Packet{Version: V6, Type: TypeRequest, Extensions: make([]Extension, 256)}, ErrTooManyExtensions},
		{"extension value", Packet{Version: V6, Type: TypeResponse, Extensions: []Extension{{Value: []byte(long)}}}, ErrFieldTooLarge},
		{"token", Packet{Version: V6, Type: TypeAuthReq, Token: long}, ErrFieldTooLarge},
		{"inspect argument", Packet{Version: V6, Type: TypeInspectReq, Body: []byte(long)}, ErrFieldTooLarge},
		{"inspect data", Packet{Version: V5, Type: TypeInspectAck, Body: []byte(long)}, ErrFieldTooLarge},
		{"client version", Packet{Version: V6, Type: TypeClientHello, ClientVersion: long}, ErrFieldTooLarge},
		{"client name", Packet{Version: V6, Type: TypeClientHello, ClientName: long}, ErrFieldTooLarge},
		{"server version", Packet{Version: V6, Type: TypeServerHello, ServerVersion: long}, ErrFieldTooLarge},
	}
	for _, c := range cases {
		dst := []byte("keep")
		got, err := AppendPacket(dst, &c.p)
		if !errors.Is(err, c.target) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.target)
		}
		if string(got) != "keep" {
			t.Errorf("%s: dst changed to %q", c.name, got)
		}
	}
	// 256 extensions in version 5 are ignored, as all its extensions.
	if _, err := AppendPacket(nil, &Packet{Version: V5, Type: TypeRequest, Extensions: make([]Extension, 256)}); err != nil {
		t.Error(err)
	}
}

func TestVersionHas(t *testing.T) {
	for typ := range PacketType(255) {
		if got, want := V5.Has(typ), typ <= TypeInterrupt; got != want {
			t.Errorf("V5.Has(%v) = %v", typ, got)
		}
		if got, want := V6.Has(typ), typ <= TypeServerHello; got != want {
			t.Errorf("V6.Has(%v) = %v", typ, got)
		}
		if Version(7).Has(typ) {
			t.Errorf("Version(7).Has(%v)", typ)
		}
	}
}

func TestNewDecoderUsesBufioReader(t *testing.T) {
	br := bufio.NewReaderSize(bytes.NewReader(nil), 16)
	if d := NewDecoder(br, Limits{}); d.r != br {
		t.Fatal("NewDecoder wrapped a *bufio.Reader")
	}
	pr, _ := io.Pipe() // no ReadByte: wrapped
	if d := NewDecoder(pr, Limits{}); d.r.(*bufio.Reader).Size() != decoderBufferSize {
		t.Fatalf("buffer of %d bytes", d.r.(*bufio.Reader).Size())
	}
}

func TestAppendPacketAllocs(t *testing.T) {
	p := benchRequest()
	dst := make([]byte, 0, 1024)
	allocs := testing.AllocsPerRun(100, func() {
		dst, _ = AppendPacket(dst[:0], p)
	})
	if allocs != 0 {
		t.Fatalf("AppendPacket allocated %v times", allocs)
	}
}

func TestDecodeAllocs(t *testing.T) {
	wire := mustAppend(t, benchRequest())
	r := bytes.NewReader(wire)
	d := NewDecoder(r, Limits{})
	var p Packet
	allocs := testing.AllocsPerRun(100, func() {
		r.Reset(wire)
		if err := d.Decode(&p); err != nil {
			t.Fatal(err)
		}
	})
	// The name, the body, the extension slice and one extension value.
	if allocs > 4 {
		t.Fatalf("Decode allocated %v times", allocs)
	}
}

func benchRequest() *Packet {
	return &Packet{
		Version: V6, TID: 42, Type: TypeRequest, ContentType: ContentJSON,
		Name: "slacker.example.api/add", Body: []byte("[1,2]"),
		Extensions: []Extension{{ID: DeadlineExtension, Value: []byte("1700000000000")}},
	}
}

func BenchmarkAppendPacket(b *testing.B) {
	p := benchRequest()
	dst := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		dst, _ = AppendPacket(dst[:0], p)
	}
	b.SetBytes(int64(len(dst)))
}

func BenchmarkDecodeRequest(b *testing.B) {
	wire, _ := AppendPacket(nil, benchRequest())
	r := bytes.NewReader(wire)
	d := NewDecoder(r, Limits{})
	var p Packet
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(wire)
		if err := d.Decode(&p); err != nil {
			b.Fatal(err)
		}
	}
}

// TestReuseBuffers checks that a decoder reusing its buffers decodes
// every packet as one that does not, read whole and byte by byte, that a
// packet's short body and extension are the decoder's (overwritten by the
// next packet), and that a request then costs no allocation but its name,
// kept after the first.
func TestReuseBuffers(t *testing.T) {
	ps := allPackets()
	var stream []byte
	for i := range ps {
		stream = mustAppend(t, &ps[i])
		for _, r := range []io.Reader{bytes.NewReader(stream), iotest.OneByteReader(bytes.NewReader(stream))} {
			d := NewDecoder(r, Limits{})
			d.ReuseBuffers(true)
			var got Packet
			if err := d.Decode(&got); err != nil || !reflect.DeepEqual(got, ps[i]) {
				t.Fatalf("%v %v: %v\n got %+v\nwant %+v", ps[i].Version, ps[i].Type, err, got, ps[i])
			}
		}
	}

	wire := mustAppend(t, benchRequest())
	r := bytes.NewReader(wire)
	d := NewDecoder(r, Limits{})
	d.ReuseBuffers(true)
	var first, p Packet
	if err := d.Decode(&first); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		r.Reset(wire)
		if err := d.Decode(&p); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Decode reusing its buffers allocated %v times", allocs)
	}
	if &first.Body[0] != &p.Body[0] || &first.Extensions[0] != &p.Extensions[0] {
		t.Fatal("a short body and extension are not the decoder's")
	}
}
