package transport

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"testing"
)

// libraryJSON is v as encoding/json encodes it for the JSON codec.
func libraryJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// checkJSONAppend checks that jsonAppend writes v as encoding/json does,
// or leaves v to it.
func checkJSONAppend(t *testing.T, v any) {
	t.Helper()
	want, wantErr := libraryJSON(v)
	got, ok := jsonAppend([]byte("prefix"), v, 0)
	switch {
	case !ok:
		return // encoding/json's to write, or to refuse
	case wantErr != nil:
		t.Fatalf("%#v: jsonAppend wrote %s, encoding/json refused it: %v", v, got, wantErr)
	case !bytes.Equal(got, append([]byte("prefix"), want...)):
		t.Fatalf("%#v: jsonAppend wrote\n%s\nencoding/json writes\n%s", v, got[len("prefix"):], want)
	}
}

func TestJSONAppend(t *testing.T) {
	for _, v := range []any{
		nil, true, false, int64(-1), 0, int8(-128), int16(300), int32(-7), uint(7), uint8(255), uint16(9), uint32(1 << 31), uint64(math.MaxUint64),
		math.MaxInt64, math.MinInt64,
		0.0, math.Copysign(0, -1), 1.5, 1e20, 1e21, 1e-6, 1e-7, 123456789e-15, 5e-324, math.MaxFloat64, -2.5e-9, float32(0.1), float32(1e21), float32(1e-7), float32(3.4e38),
		"", "plain", `quote " backslash \ slash /`, "\x00\x01\b\f\n\r\t\x1f\x7f", "<html>&amp;", "é ü 日本 😀", "\u2028\u2029", "bad \xff utf-8 \xc3", "\xed\xa0\x80",
		[]byte(nil), []byte{}, []byte("bytes\x00\xff"),
		[]any(nil), []any{}, []any{1, "a", nil, []any{true}},
		map[string]any(nil), map[string]any{}, map[string]any{"b": 1, "a": []any{map[string]any{"z": nil, "y": 2.5}}, "\u2028": "k", "é": 1, "": 0},
		// Left to encoding/json:
		math.NaN(), math.Inf(1), float32(math.Inf(-1)), []any{1, math.NaN()}, struct{ A int }{1}, map[string]int{"a": 1}, []int{1},
	} {
		checkJSONAppend(t, v)
	}
	deep := any(1)
	for range jsonAppendDepth + 10 {
		deep = []any{deep}
	}
	if _, ok := jsonAppend(nil, deep, 0); ok {
		t.Fatal("jsonAppend wrote a value nested past jsonAppendDepth")
	}
	checkJSONAppend(t, deep)
}

// FuzzJSONAppend holds jsonAppend to encoding/json's bytes for the values
// the JSON codec decodes from the data, for its bytes as a string, and
// for its first eight bytes as a float64 and a float32.
func FuzzJSONAppend(f *testing.F) {
	for _, s := range []string{`[1,"a",{"b":[true,null,1.5e-7]}]`, `"\u2028\ud800"`, `{"z":1,"a":{"<":">"}}`, "\xff\xfe\x00\x01\x02\x03\x04\x05", `1e300`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if v, err := jsonDecode(data, len(data)*64); err == nil {
			checkJSONAppend(t, v)
		}
		checkJSONAppend(t, string(data))
		checkJSONAppend(t, map[string]any{string(data): data})
		if len(data) >= 8 {
			checkJSONAppend(t, math.Float64frombits(binary.BigEndian.Uint64(data)))
			checkJSONAppend(t, math.Float32frombits(binary.BigEndian.Uint32(data)))
		}
	})
}
