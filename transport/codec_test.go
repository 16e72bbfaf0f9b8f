package transport

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func TestCodecFor(t *testing.T) {
	codecs := DefaultCodecs()
	for _, c := range []Codec{JSON, EDN, Nippy, Msgpack} {
		got, err := CodecFor(codecs, c.ContentType())
		if err != nil || got != c {
			t.Errorf("CodecFor(%v) = %v, %v", c.ContentType(), got, err)
		}
	}
	for _, ct := range []ContentType{0, 4, 5, 10, 13, 255} {
		if _, err := CodecFor(codecs, ct); !errors.Is(err, ErrUnknownContentType) {
			t.Errorf("CodecFor(%v): %v", ct, err)
		}
	}
	if _, err := CodecFor(nil, ContentJSON); !errors.Is(err, ErrUnknownContentType) {
		t.Errorf("CodecFor(nil): %v", err)
	}
	codecs[0] = nil // a fresh slice each time
	if DefaultCodecs()[0] != JSON {
		t.Error("DefaultCodecs shares its slice")
	}
}

// decodeCase is one input of a codec and the value it decodes to; want nil
// with fails set means the input is an error.
type decodeCase struct {
	name  string
	in    string // text for JSON, hex for msgpack
	want  any
	fails bool
}

func TestJSONDecode(t *testing.T) {
	cases := []decodeCase{
		{"null", `null`, nil, false},
		{"true", `true`, true, false},
		{"false", ` false `, false, false},
		{"zero", `0`, int64(0), false},
		{"small int", `7`, int64(7), false},
		{"negative int", `-42`, int64(-42), false},
		{"large int", `4294967296`, int64(1 << 32), false},
		{"max int64", `9223372036854775807`, int64(math.MaxInt64), false},
		{"min int64", `-9223372036854775808`, int64(math.MinInt64), false},
		{"above int64", `9223372036854775808`, uint64(1 << 63), false},
		{"max uint64", `18446744073709551615`, uint64(math.MaxUint64), false},
		{"above uint64", `18446744073709551616`, nil, true},
		{"below int64", `-9223372036854775809`, nil, true},
		{"big integer in an array", `[1, 123456789012345678901234567890]`, nil, true},
		{"big float is a float", `123456789012345678901234567890.0`, 1.2345678901234568e29, false},
		{"1.5", `1.5`, 1.5, false},
		{"1.0 is a float", `1.0`, 1.0, false},
		{"exponent is a float", `1e2`, 100.0, false},
		{"capital exponent", `2E-1`, 0.2, false},
		{"1e300", `1e300`, 1e300, false},
		{"negative zero", `-0.0`, math.Copysign(0, -1), false},
		{"float out of range", `1e400`, nil, true},
		{"string", `"hello"`, "hello", false},
		{"unicode string", `"héllo ☃ \u00e9\ud83d\ude00"`, "héllo ☃ é😀", false},
		{"empty string", `""`, "", false},
		{"array", `[1,"a",[true,null],2.5]`, []any{int64(1), "a", []any{true, nil}, 2.5}, false},
		{"empty array", `[]`, []any{}, false},
		{"nested maps", `{"a":{"b":[1,2.5]},"c":null}`, map[string]any{"a": map[string]any{"b": []any{int64(1), 2.5}}, "c": nil}, false},
		{"empty map", `{}`, map[string]any{}, false},
		{"numbers in maps in arrays", `[{"n":[{"m":3}]}]`, []any{map[string]any{"n": []any{map[string]any{"m": int64(3)}}}}, false},
		{"trailing whitespace", " [1] \n\t", []any{int64(1)}, false},
		{"trailing value", `1 2`, nil, true},
		{"trailing garbage", `[1]x`, nil, true},
		{"two objects", `{}{}`, nil, true},
		{"unterminated", `[1,`, nil, true},
		{"bad object", `{"a"}`, nil, true},
		{"empty", ``, nil, true},
		{"bad literal", `nul`, nil, true},
		{"single quotes", `'a'`, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got any
			err := JSON.Unmarshal([]byte(c.in), &got)
			checkDecode(t, c, got, err)
		})
	}
}

func TestMsgpackDecode(t *testing.T) {
	cases := []decodeCase{
		{"nil", "c0", nil, false},
		{"false", "c2", false, false},
		{"true", "c3", true, false},
		{"fixint 0", "00", int64(0), false},
		{"fixint 127", "7f", int64(127), false},
		{"negative fixint", "ff", int64(-1), false},
		{"uint8", "ccff", int64(255), false},
		{"uint16", "cd0100", int64(256), false},
		{"uint32", "ceffffffff", int64(math.MaxUint32), false},
		{"uint64 small", "cf0000000000000001", int64(1), false},
		{"uint64 max int64", "cf7fffffffffffffff", int64(math.MaxInt64), false},
		{"uint64 above int64", "cf8000000000000000", uint64(1 << 63), false},
		{"uint64 max", "cfffffffffffffffff", uint64(math.MaxUint64), false},
		{"int8", "d080", int64(-128), false},
		{"int16", "d1ff00", int64(-256), false},
		{"int32", "d280000000", int64(math.MinInt32), false},
		{"int64 min", "d38000000000000000", int64(math.MinInt64), false},
		{"float32 1.5", "ca3fc00000", 1.5, false},
		{"float64 1.5", "cb3ff8000000000000", 1.5, false},
		{"float64 1e300", "cb7e37e43c8800759c", 1e300, false},
		{"float64 1.0", "cb3ff0000000000000", 1.0, false},
		{"fixstr", "a568656c6c6f", "hello", false},
		{"str8 unicode", "d90668c3a9e29883", "hé☃", false},
		{"empty str", "a0", "", false},
		{"bin", "c403010203", []byte{1, 2, 3}, false},
		{"empty bin", "c400", []byte{}, false},
		{"array", "9301a16192c3c0", []any{int64(1), "a", []any{true, nil}}, false},
		{"array16", "dc00020102", []any{int64(1), int64(2)}, false},
		{"array32", "dd000000020102", []any{int64(1), int64(2)}, false},
		{"map16", "de0001a16101", map[string]any{"a": int64(1)}, false},
		{"map32", "df00000001a16101", map[string]any{"a": int64(1)}, false},
		{"str16", "da0002c3a9", "é", false},
		{"str32", "db00000002c3a9", "é", false},
		{"bin16", "c5000107", []byte{7}, false},
		{"bin32", "c60000000107", []byte{7}, false},
		{"int16 positive", "d17fff", int64(math.MaxInt16), false},
		{"int32 positive", "d27fffffff", int64(math.MaxInt32), false},
		{"int64 max", "d37fffffffffffffff", int64(math.MaxInt64), false},
		{"float32 -0", "ca80000000", math.Copysign(0, -1), false},
		{"empty array", "90", []any{}, false},
		{"nested maps", "82a16181a1629201cb4004000000000000a163c0",
			map[string]any{"a": map[string]any{"b": []any{int64(1), 2.5}}, "c": nil}, false},
		{"empty map", "80", map[string]any{}, false},
		{"int keys", "8201a16102a162", map[any]any{int64(1): "a", int64(2): "b"}, false},
		{"mixed keys", "82a1610102c3", map[any]any{"a": int64(1), int64(2): true}, false},
		{"nil key", "81c001", map[any]any{nil: int64(1)}, false},
		{"array key", "819001", nil, true},
		{"bin key", "81c4000101", nil, true},
		{"trailing value", "0102", nil, true},
		{"trailing garbage after array", "9101ff", nil, true},
		{"empty", "", nil, true},
		{"short array", "9201", nil, true},
		{"short string", "a3616263"[:6], nil, true},
		{"never used code", "c1", nil, true},
		{"array claiming 4G elements", "ddffffffff00", nil, true},
		{"map claiming 4G entries", "dfffffffff0000", nil, true},
		{"bin claiming 4 GiB", "c6ffffffff00", nil, true},
		{"str claiming 4 GiB", "dbffffffff00", nil, true},
		{"extension", "d6ff00000001", nil, true},
		{"nested too deep", strings.Repeat("91", msgpackMaxDepth+2) + "c0", nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data, err := hex.DecodeString(c.in)
			if err != nil {
				t.Fatal(err)
			}
			var got any
			err = Msgpack.Unmarshal(data, &got)
			checkDecode(t, c, got, err)
		})
	}
}

func checkDecode(t *testing.T, c decodeCase, got any, err error) {
	t.Helper()
	if c.fails {
		if err == nil {
			t.Fatalf("%s decoded to %#v, want an error", c.in, got)
		}
		return
	}
	if err != nil {
		t.Fatalf("%s: %v", c.in, err)
	}
	if !reflect.DeepEqual(got, c.want) {
		t.Fatalf("%s decoded to %#v, want %#v", c.in, got, c.want)
	}
	if f, ok := c.want.(float64); ok && math.Signbit(f) != math.Signbit(got.(float64)) {
		t.Fatalf("%s decoded to %v, want %v", c.in, got, c.want)
	}
}

// TestDecodeTargets decodes into the pointer types that get normalized
// values and into typed values, which get what the library gives.
func TestDecodeTargets(t *testing.T) {
	type point struct {
		X int    `json:"x" msgpack:"x"`
		Y string `json:"y" msgpack:"y"`
	}
	for _, c := range []Codec{JSON, EDN, Nippy, Msgpack} {
		t.Run(c.ContentType().String(), func(t *testing.T) {
			enc := func(v any) []byte {
				b, err := c.Marshal(v)
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			var args []any
			if err := c.Unmarshal(enc([]any{1, "a", map[string]any{"k": 2}}), &args); err != nil {
				t.Fatal(err)
			}
			if want := []any{int64(1), "a", map[string]any{"k": int64(2)}}; !reflect.DeepEqual(args, want) {
				t.Fatalf("*[]any: %#v", args)
			}
			if err := c.Unmarshal(enc(nil), &args); err != nil || args != nil {
				t.Fatalf("*[]any of nil: %#v, %v", args, err)
			}
			if err := c.Unmarshal(enc(map[string]any{"a": 1}), &args); err == nil {
				t.Fatal("*[]any of a map: no error")
			}
			var m map[string]any
			if err := c.Unmarshal(enc(map[string]any{"a": []any{3}}), &m); err != nil || !reflect.DeepEqual(m, map[string]any{"a": []any{int64(3)}}) {
				t.Fatalf("*map[string]any: %#v, %v", m, err)
			}
			if err := c.Unmarshal(enc([]any{1}), &m); err == nil {
				t.Fatal("*map[string]any of an array: no error")
			}
			var n int
			if err := c.Unmarshal(enc(42), &n); err != nil || n != 42 {
				t.Fatalf("*int: %d, %v", n, err)
			}
			var ss []string
			if err := c.Unmarshal(enc([]string{"a", "b"}), &ss); err != nil || !reflect.DeepEqual(ss, []string{"a", "b"}) {
				t.Fatalf("*[]string: %v, %v", ss, err)
			}
			var p point
			if err := c.Unmarshal(enc(point{X: 3, Y: "z"}), &p); err != nil || p != (point{3, "z"}) {
				t.Fatalf("struct: %+v, %v", p, err)
			}
			if err := c.Unmarshal(append(enc(1), enc([]any{})...), &n); err == nil {
				t.Fatal("*int with trailing data: no error")
			}
			if err := c.Unmarshal(enc("x"), &n); err == nil {
				t.Fatal("*int of a string: no error")
			}
			for _, target := range []any{(*any)(nil), (*[]any)(nil), (*map[string]any)(nil), (*int)(nil), nil, 3} {
				if err := c.Unmarshal(enc(1), target); err == nil {
					t.Fatalf("Unmarshal into %#v: no error", target)
				}
			}
		})
	}
}

func TestJSONMarshal(t *testing.T) {
	cases := []struct {
		in   any
		want string
	}{
		{nil, `null`},
		{true, `true`},
		{int64(-3), `-3`},
		{uint64(math.MaxUint64), `18446744073709551615`},
		{1.5, `1.5`},
		{1e300, `1e+300`},
		{"<a&b>", `"<a&b>"`},
		{"é☃", `"é☃"`},
		{[]byte{1, 2, 3}, `"AQID"`},
		{[]any{}, `[]`},
		{map[string]any{"b": 1, "a": []any{nil}}, `{"a":[null],"b":1}`},
		{map[any]any{int64(1): "a", "b": map[any]any{true: uint64(2), 1.5: nil}}, `{"1":"a","b":{"1.5":null,"true":2}}`},
		{[]any{map[any]any{int64(-1): 0}}, `[{"-1":0}]`},
	}
	for _, c := range cases {
		got, err := JSON.Marshal(c.in)
		if err != nil || string(got) != c.want {
			t.Errorf("Marshal(%#v) = %s, %v; want %s", c.in, got, err, c.want)
		}
	}
	for _, bad := range []any{math.NaN(), math.Inf(1), []any{math.Inf(-1)}, make(chan int), map[any]any{[2]int{}: 1}} {
		if got, err := JSON.Marshal(bad); err == nil {
			t.Errorf("Marshal(%#v) = %s, want an error", bad, got)
		}
	}
}

func TestMsgpackMarshal(t *testing.T) {
	type point struct {
		X int `msgpack:"x"`
	}
	cases := []struct {
		in   any
		want string // hex
	}{
		{nil, "c0"},
		{true, "c3"},
		{1, "01"},
		{int64(1), "01"},
		{int64(-1), "ff"},
		{int64(300), "cd012c"},
		{int64(-200), "d1ff38"},
		{int64(math.MaxInt64), "cf7fffffffffffffff"},
		{uint64(math.MaxUint64), "cfffffffffffffffff"},
		{1.5, "cb3ff8000000000000"},
		{"hi", "a26869"},
		{[]byte{1}, "c40101"},
		{[]any{int64(1), int64(2)}, "920102"},
		{map[string]any{"a": int64(1)}, "81a16101"},
		{point{X: 2}, "81a17802"},
	}
	for _, c := range cases {
		got, err := Msgpack.Marshal(c.in)
		if err != nil || hex.EncodeToString(got) != c.want {
			t.Errorf("Marshal(%#v) = %x, %v; want %s", c.in, got, err, c.want)
		}
	}
	if got, err := Msgpack.Marshal(make(chan int)); err == nil {
		t.Errorf("Marshal(chan) = %x, want an error", got)
	}
}

// TestCodecRoundTrip marshals normalized values and reads them back.
func TestCodecRoundTrip(t *testing.T) {
	values := []any{
		nil, true, int64(0), int64(-1), int64(math.MaxInt64), int64(math.MinInt64), 1.5, 1e300, -2.25,
		"", "héllo\n", []any{}, []any{int64(1), []any{"x"}}, map[string]any{},
		map[string]any{"a": map[string]any{"b": []any{nil, false}}},
	}
	for _, c := range []Codec{JSON, EDN, Nippy, Msgpack} {
		vs := values
		switch c {
		case Nippy:
			vs = append(vs, uint64(math.MaxUint64), []byte{}, []byte{0, 255}, map[any]any{int64(1): "a", "b": int64(2), true: nil, 1.5: []any{}})
		case Msgpack:
			vs = append(vs, uint64(math.MaxUint64), []byte{}, []byte{0, 255}, map[any]any{int64(1): "a", "b": int64(2)})
		case EDN:
			vs = append(vs, uint64(math.MaxUint64), map[any]any{int64(1): "a", "b": int64(2), true: nil, 1.5: []any{}})
		}
		for _, v := range vs {
			b, err := c.Marshal(v)
			if err != nil {
				t.Fatalf("%v: Marshal(%#v): %v", c.ContentType(), v, err)
			}
			var got any
			if err := c.Unmarshal(b, &got); err != nil || !reflect.DeepEqual(got, v) {
				t.Errorf("%v: %#v came back as %#v, %v", c.ContentType(), v, got, err)
			}
		}
	}
}

// TestCodecsConcurrent uses the pooled encoders and decoders from many
// goroutines; run with -race.
func TestCodecsConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			for i := range 200 {
				c := DefaultCodecs()[(g+i)%2]
				want := []any{int64(g), int64(i), strings.Repeat("x", i)}
				b, err := c.Marshal(want)
				if err != nil {
					errs <- err
					return
				}
				var got []any
				if err := c.Unmarshal(b, &got); err != nil || !reflect.DeepEqual(got, want) {
					errs <- errors.New("round trip mismatch")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

var benchArgs = []any{int64(1), int64(2)}

func benchmarkMarshal(b *testing.B, c Codec) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Marshal(benchArgs); err != nil {
			b.Fatal(err)
		}
	}
}

func benchmarkUnmarshal(b *testing.B, c Codec) {
	data, err := c.Marshal(benchArgs)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var args []any
		if err := c.Unmarshal(data, &args); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJSONMarshal(b *testing.B)      { benchmarkMarshal(b, JSON) }
func BenchmarkJSONUnmarshal(b *testing.B)    { benchmarkUnmarshal(b, JSON) }
func BenchmarkMsgpackMarshal(b *testing.B)   { benchmarkMarshal(b, Msgpack) }
func BenchmarkMsgpackUnmarshal(b *testing.B) { benchmarkUnmarshal(b, Msgpack) }

// FuzzCodecs decodes arbitrary bodies with both codecs: no input may panic
// or allocate beyond its size, and a decoded value must encode to a body
// that decodes to the same value.
func FuzzCodecs(f *testing.F) {
	for _, s := range []string{`[1,"a",{"b":[true,null,1.5]}]`, `1e400`, `[1]x`, `{"a":`} {
		f.Add([]byte(s))
	}
	for _, h := range []string{"9301a16192c3c0", "8201a16102a162", "cfffffffffffffffff", "ddffffffff00", "c6ffffffff00", "d6ff00000001", "919191c0"} {
		b, _ := hex.DecodeString(h)
		f.Add(b)
	}
	type typed struct {
		A []int          `json:"a" msgpack:"a"`
		B map[string]any `json:"b" msgpack:"b"`
		C []byte         `json:"c" msgpack:"c"`
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, c := range []Codec{JSON, EDN, Nippy, Msgpack} {
			var tv typed
			_ = c.Unmarshal(data, &tv)
			var v any
			if err := c.Unmarshal(data, &v); err != nil {
				continue
			}
			b, err := c.Marshal(v)
			if err != nil {
				t.Fatalf("%v: %x decoded to %#v, which does not encode: %v", c.ContentType(), data, v, err)
			}
			if c == Msgpack {
				// The library's own output is compared where it is the
				// same every time: not for maps with keys other than
				// strings, which it writes in no set order.
				if own, ok := msgpackAppend(nil, v, 0); ok && !bytes.Equal(own, libraryMsgpack(t, v)) {
					t.Fatalf("%#v encoded as %x, the library encodes %x", v, own, libraryMsgpack(t, v))
				}
			}
			var again any
			if err := c.Unmarshal(b, &again); err != nil {
				t.Fatalf("%v: %x re-encoded as %x, which does not decode: %v", c.ContentType(), data, b, err)
			}
			if !sameValue(v, again, c == JSON) {
				t.Fatalf("%v: %#v came back as %#v", c.ContentType(), v, again)
			}
		}
	})
}

// sameValue is reflect.DeepEqual for decoded values, where NaN equals NaN.
// With numeric, a float64 equals an int64 of the same value: JSON writes
// whole floats without a fraction, so they read back as integers.
func sameValue(a, b any, numeric bool) bool {
	switch a := a.(type) {
	case float64:
		if i, ok := b.(int64); ok && numeric {
			return float64(i) == a
		}
		f, ok := b.(float64)
		return ok && (a == f || math.IsNaN(a) && math.IsNaN(f))
	case []any:
		s, ok := b.([]any)
		if !ok || len(a) != len(s) {
			return false
		}
		for i := range a {
			if !sameValue(a[i], s[i], numeric) {
				return false
			}
		}
		return true
	case map[string]any:
		m, ok := b.(map[string]any)
		if !ok || len(a) != len(m) {
			return false
		}
		for k, v := range a {
			if w, ok := m[k]; !ok || !sameValue(v, w, numeric) {
				return false
			}
		}
		return true
	case map[any]any:
		m, ok := b.(map[any]any)
		if !ok || len(a) != len(m) {
			return false
		}
		for k, v := range a {
			if f, isFloat := k.(float64); isFloat && math.IsNaN(f) {
				continue // NaN keys can't be looked up; the lengths matched
			}
			if w, ok := m[k]; !ok || !sameValue(v, w, numeric) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// libraryMsgpack encodes v with the msgpack library alone, as the codec
// configures it.
func libraryMsgpack(t testing.TB, v any) []byte {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	enc.SetSortMapKeys(true)
	if err := enc.Encode(v); err != nil {
		t.Fatalf("the library can't encode %#v: %v", v, err)
	}
	return buf.Bytes()
}

// TestMsgpackMarshalMatchesLibrary checks the codec's own encoding against
// the library's, byte for byte, at the edges of every form.
func TestMsgpackMarshalMatchesLibrary(t *testing.T) {
	var values []any
	for _, n := range []int64{0, 1, 127, 128, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1, math.MaxInt64,
		-1, -32, -33, -128, -129, -32768, -32769, math.MinInt32, math.MinInt32 - 1, math.MinInt64} {
		values = append(values, n, int(n), float64(n))
		if n >= math.MinInt32 && n <= math.MaxInt32 {
			values = append(values, int32(n))
		}
		if n >= 0 {
			values = append(values, uint64(n), uint(n))
		}
	}
	values = append(values, uint64(math.MaxUint64), int8(-5), int16(300), uint8(200), uint16(60000), uint32(70000),
		float32(1.5), math.Inf(-1), math.NaN(), math.Copysign(0, -1), nil, true, false)
	for _, n := range []int{0, 1, 15, 16, 31, 32, 255, 256, 65535, 65536} {
		values = append(values, strings.Repeat("x", n), bytes.Repeat([]byte{7}, n))
		a := make([]any, n)
		m := make(map[string]any, n)
		for i := range a {
			a[i] = int64(i)
			m[fmt.Sprint(i)] = i
		}
		values = append(values, a, m)
	}
	values = append(values, []byte(nil), []any(nil), map[string]any(nil), []any{[]any{map[string]any{"b": 1, "a": []byte{}}}, "é"})
	for _, v := range values {
		got, err := Msgpack.Marshal(v)
		if err != nil {
			t.Fatalf("%#v: %v", v, err)
		}
		if want := libraryMsgpack(t, v); !bytes.Equal(got, want) {
			t.Errorf("%T %.40v encoded as %.40x, the library encodes %.40x", v, v, got, want)
		}
		if _, ok := msgpackAppend(nil, v, 0); !ok {
			t.Errorf("%T is left to the library", v)
		}
	}
	// Other types are the library's.
	type point struct{ X, Y int }
	for _, v := range []any{point{1, 2}, []string{"a"}, map[any]any{int64(1): "a"}, []any{point{}}} {
		got, err := Msgpack.Marshal(v)
		if err != nil {
			t.Fatalf("%#v: %v", v, err)
		}
		if want := libraryMsgpack(t, v); !bytes.Equal(got, want) {
			t.Errorf("%#v encoded as %x, the library encodes %x", v, got, want)
		}
	}
}

// TestMsgpackScalarTargets checks that decoding into *int64, *string,
// *float64 and *bool gives what the library gives, error or value.
func TestMsgpackScalarTargets(t *testing.T) {
	inputs := []any{int64(5), int64(-300), uint64(math.MaxUint64), 2.5, float32(1.25), "s", []byte("b"), nil, true, []any{1}}
	for _, in := range inputs {
		data := libraryMsgpack(t, in)
		for _, mk := range []func() any{
			func() any { return new(int64) }, func() any { return new(string) },
			func() any { return new(float64) }, func() any { return new(bool) },
		} {
			got, want := mk(), mk()
			gotErr := Msgpack.Unmarshal(data, got)
			wantErr := msgpack.Unmarshal(data, want)
			if (gotErr == nil) != (wantErr == nil) || !reflect.DeepEqual(got, want) {
				t.Errorf("%#v into %T: %v, %v; the library gives %v, %v", in, got,
					reflect.ValueOf(got).Elem(), gotErr, reflect.ValueOf(want).Elem(), wantErr)
			}
		}
	}
}

// TestMsgpackInt checks the decoding of a deadline: every integer form,
// and nothing else.
func TestMsgpackInt(t *testing.T) {
	for _, n := range []int64{0, 127, 128, 255, 256, 65536, 1 << 40, math.MaxInt64, -1, -32, -33, -200, -40000, math.MinInt32 - 1, math.MinInt64} {
		data := libraryMsgpack(t, n)
		if got, ok := msgpackInt(data); !ok || got != n {
			t.Errorf("%d (%x): %d, %v", n, data, got, ok)
		}
	}
	for _, v := range []any{uint64(math.MaxUint64), 1.5, "1", nil, []any{1}} {
		if got, ok := msgpackInt(libraryMsgpack(t, v)); ok {
			t.Errorf("%#v read as the integer %d", v, got)
		}
	}
	for _, h := range []string{"", "cc", "cd01", "d3000000000000000001ff", "0101"} {
		data, _ := hex.DecodeString(h)
		if got, ok := msgpackInt(data); ok {
			t.Errorf("%q read as the integer %d", h, got)
		}
	}
}

// TestAppendMarshal checks that AppendMarshal appends what Marshal
// returns, after what dst holds, for every codec, and leaves dst as it was
// on error.
func TestAppendMarshal(t *testing.T) {
	for _, c := range DefaultCodecs() {
		for _, v := range []any{nil, int64(3), "x", []any{int64(1), "a", map[string]any{"k": 1.5}}} {
			want, err := c.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			got, err := AppendMarshal(c, []byte("pre"), v)
			if err != nil || string(got) != "pre"+string(want) {
				t.Errorf("%v: AppendMarshal(%v) = %q, %v; want %q", c.ContentType(), v, got, err, "pre"+string(want))
			}
		}
		got, err := AppendMarshal(c, []byte("pre"), make(chan int))
		if err == nil || string(got) != "pre" {
			t.Errorf("%v: AppendMarshal(chan) = %q, %v; want pre and an error", c.ContentType(), got, err)
		}
	}
}

// TestAppendArgs checks that AppendArgs appends what Marshal returns for
// the same array, for every codec.
func TestAppendArgs(t *testing.T) {
	big := make([]any, 20)
	for i := range big {
		big[i] = int64(i * 1000)
	}
	for _, c := range DefaultCodecs() {
		for _, args := range [][]any{nil, {}, {int64(1), int64(2)}, {"x", nil, true, 2.5, []any{"a"}, map[string]any{"k": int64(1)}, map[any]any{int64(1): "one"}}, big} {
			want, err := c.Marshal(args)
			if err != nil {
				t.Fatal(err)
			}
			got, err := AppendArgs(c, []byte("pre"), args)
			if err != nil || string(got) != "pre"+string(want) {
				t.Errorf("%v: AppendArgs(%v) = %q, %v; want %q", c.ContentType(), args, got, err, "pre"+string(want))
			}
		}
		got, err := AppendArgs(c, []byte("pre"), []any{int64(1), make(chan int)})
		if err == nil || string(got) != "pre" {
			t.Errorf("%v: AppendArgs(chan) = %q, %v; want pre and an error", c.ContentType(), got, err)
		}
	}
}
