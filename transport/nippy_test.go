package transport

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pierrec/lz4/v4"
	"github.com/slacker-lua/slacker-lua/internal/clojuretest"
)

var nippyUpdate = flag.Bool("nippy.update", false, "regenerate testdata/nippy/vectors.json with nippy")

// A nippyVector is a value as nippy freezes it, and the notation of the Go
// value the codec decodes it to (see testdata/nippy/gen.clj), "sha256:" and
// the hash of that notation when it is long, or "error: ..." when the codec
// refuses it.
type nippyVector struct {
	Name   string `json:"name"`
	Hex    string `json:"hex"`
	Expect string `json:"expect"`
	EDN    string `json:"edn"`
}

func (v nippyVector) bytes(t testing.TB) []byte {
	b, err := hex.DecodeString(v.Hex)
	if err != nil {
		t.Fatalf("%s: %v", v.Name, err)
	}
	return b
}

var nippyVectorsFile = filepath.Join("testdata", "nippy", "vectors.json")

func nippyGenerator(t testing.TB) string {
	src, err := os.ReadFile(filepath.Join("testdata", "nippy", "gen.clj"))
	if err != nil {
		t.Fatal(err)
	}
	return string(src)
}

func loadNippyVectors(t testing.TB) []nippyVector {
	t.Helper()
	data, err := os.ReadFile(nippyVectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	var vs []nippyVector
	if err := json.Unmarshal(data, &vs); err != nil {
		t.Fatal(err)
	}
	return vs
}

// TestNippyUpdateVectors regenerates the vectors with nippy, when asked to
// with -nippy.update.
func TestNippyUpdateVectors(t *testing.T) {
	if !*nippyUpdate {
		t.Skip("run with -nippy.update to regenerate testdata/nippy/vectors.json")
	}
	out := clojuretest.Run(t, nippyGenerator(t), nil, "gen")
	var vs []nippyVector
	if err := json.Unmarshal(out, &vs); err != nil {
		t.Fatalf("the generator's output: %v", err)
	}
	if err := os.WriteFile(nippyVectorsFile, out, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d vectors", len(vs))
}

// nippyNotation is the notation of a decoded value, as gen.clj writes it.
func nippyNotation(v any) string {
	var b strings.Builder
	writeNippyNotation(&b, v, false)
	return b.String()
}

// nippyStrict is the notation of the Clojure value nippy thaws the codec's
// encoding of v to, as gen.clj's strict writes it: keys that are keyword
// names are keywords (K), integers above math.MaxInt64 BigInts (N).
func nippyStrict(v any) string {
	var b strings.Builder
	writeNippyNotation(&b, v, true)
	return b.String()
}

func writeNippyNotation(b *strings.Builder, v any, strict bool) {
	switch v := v.(type) {
	case nil:
		b.WriteString("n")
	case bool:
		b.WriteString(map[bool]string{true: "t", false: "f"}[v])
	case int64:
		fmt.Fprintf(b, "i%d", v)
	case int:
		fmt.Fprintf(b, "i%d", v)
	case uint64:
		if strict {
			if v > math.MaxInt64 {
				fmt.Fprintf(b, "N%d", v)
			} else {
				fmt.Fprintf(b, "i%d", v)
			}
		} else {
			fmt.Fprintf(b, "u%d", v)
		}
	case float64:
		fmt.Fprintf(b, "d%016x", math.Float64bits(v))
	case float32:
		fmt.Fprintf(b, "d%016x", math.Float64bits(float64(v)))
	case string:
		b.WriteString("s" + hex.EncodeToString([]byte(v)))
	case []byte:
		b.WriteString("b" + hex.EncodeToString(v))
	case []any:
		b.WriteString("[")
		for i, x := range v {
			if i > 0 {
				b.WriteString(",")
			}
			writeNippyNotation(b, x, strict)
		}
		b.WriteString("]")
	case []string:
		writeNippyNotation(b, anySlice(v), strict)
	case map[string]any:
		m := make(map[any]any, len(v))
		for k, x := range v {
			m[k] = x
		}
		writeNippyMap(b, m, "{", strict)
	case map[string]string:
		m := make(map[any]any, len(v))
		for k, x := range v {
			m[k] = x
		}
		writeNippyMap(b, m, "{", strict)
	case map[any]any:
		writeNippyMap(b, v, "{*", strict)
	default:
		fmt.Fprintf(b, "?%T", v)
	}
}

func anySlice[T any](s []T) []any {
	a := make([]any, len(s))
	for i, x := range s {
		a[i] = x
	}
	return a
}

func writeNippyMap(b *strings.Builder, m map[any]any, open string, strict bool) {
	type entry struct{ k, v string }
	var entries []entry
	for k, v := range m {
		var kn string
		if s, ok := k.(string); ok && strict && len(s) <= nippyMdMax && validEDNName(s) {
			kn = "K" + hex.EncodeToString([]byte(s))
		} else {
			kn = nippyNotation(k)
			if strict {
				kn = nippyStrict(k)
			}
		}
		entries = append(entries, entry{kn, nippyStrictOr(v, strict)})
	}
	slices.SortFunc(entries, func(x, y entry) int { return strings.Compare(x.k, y.k) })
	if strict {
		open = "{"
	}
	b.WriteString(open)
	for i, e := range entries {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(e.k + ":" + e.v)
	}
	b.WriteString("}")
}

func nippyStrictOr(v any, strict bool) string {
	if strict {
		return nippyStrict(v)
	}
	return nippyNotation(v)
}

// matches reports whether notation n is what vector v expects.
func (v nippyVector) matches(n string) bool {
	if h, ok := strings.CutPrefix(v.Expect, "sha256:"); ok {
		sum := sha256.Sum256([]byte(n))
		return hex.EncodeToString(sum[:]) == h
	}
	return n == v.Expect
}

// TestNippyVectors decodes nippy's own bytes: each to the value gen.clj
// expects, or to an error; whole, as arguments within no budget, and
// within an estimate that covers what decoding allocates.
func TestNippyVectors(t *testing.T) {
	vs := loadNippyVectors(t)
	if len(vs) < 100 {
		t.Fatalf("%d vectors", len(vs))
	}
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			data := v.bytes(t)
			var got any
			err := Nippy.Unmarshal(data, &got)
			if strings.HasPrefix(v.Expect, "error") {
				if err == nil {
					t.Fatalf("%s decoded to %.200s, want an error (%s)", v.EDN, nippyNotation(got), v.Expect)
				}
				if !strings.HasPrefix(err.Error(), "transport: nippy: ") {
					t.Errorf("error %q without the prefix", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s: %v", v.EDN, err)
			}
			if n := nippyNotation(got); !v.matches(n) {
				t.Fatalf("%s decoded to %.300s, want %.300s", v.EDN, n, v.Expect)
			}
			if a, ok := got.([]any); ok {
				args, err := DecodeArgs(Nippy, data, -1)
				if err != nil || nippyNotation(args) != nippyNotation(a) {
					t.Fatalf("as arguments: %.200s, %v", nippyNotation(args), err)
				}
			}
			checkEstimate(t, Nippy, data)
		})
	}
}

// nippyExtra are values the vectors don't hold that the codec writes.
func nippyExtra() map[string]any {
	big := make(map[string]any, 40000)
	for i := range 40000 {
		big["k"+strconv.Itoa(i)] = int64(i)
	}
	return map[string]any{
		"ints":         []any{int8(-1), int16(300), int32(-70000), 5, uint8(200), uint16(65535), uint32(math.MaxUint32), uint(7), uint64(math.MaxUint64), int64(math.MinInt64)},
		"floats":       []any{float32(1.5), math.Copysign(0, -1), 0.0, math.Inf(1), math.NaN()},
		"strings":      []string{"", "a", strings.Repeat("é", 100), strings.Repeat("y", 40000)},
		"string map":   map[string]string{"a": "b", "not a keyword": "c", "": "d", "1x": "e", "ns/k": "f"},
		"any map":      map[any]any{int64(1): "a", "k": true, nil: nil, 2.5: []byte{1}},
		"keys":         map[string]any{"a": 1, "a b": 2, ":x": 3, "ns/n": 4, "-1": 5, "x/y/z": 6, strings.Repeat("k", 40000): 7},
		"map lg":       big,
		"vec lg":       anySlice(bytes.Repeat([]byte{1}, 40000)),
		"bytes lg":     bytes.Repeat([]byte{9}, 40000),
		"nil slices":   []any{[]byte(nil), []any(nil), map[string]any(nil), map[any]any(nil), []string(nil), map[string]string(nil)},
		"nested empty": []any{[]any{}, map[string]any{}, []byte{}, map[any]any{}},
	}
}

// TestNippyMarshalThaws checks that what the codec writes thaws in nippy
// to the Clojure values it means: the decoded vectors, written again, and
// values of every type Marshal takes. Where the codec writes nippy's own
// bytes, the bytes are compared; nippy thaws the others.
func TestNippyMarshalThaws(t *testing.T) {
	type sent struct {
		name, strict string
	}
	var input bytes.Buffer
	var toCheck []sent
	same := 0
	add := func(name string, v any, own []byte) {
		b, err := Nippy.Marshal(v)
		if err != nil {
			t.Fatalf("%s: Marshal(%.200s): %v", name, nippyNotation(v), err)
		}
		if own != nil && bytes.Equal(b, own) {
			same++
			return
		}
		fmt.Fprintf(&input, "%d\t%x\n", len(toCheck), b)
		toCheck = append(toCheck, sent{name, nippyStrict(nippyNormal(v))})
	}
	for _, vec := range loadNippyVectors(t) {
		if strings.HasPrefix(vec.Expect, "error") {
			continue
		}
		data := vec.bytes(t)
		var v any
		if err := Nippy.Unmarshal(data, &v); err != nil {
			t.Fatalf("%s: %v", vec.Name, err)
		}
		if strings.HasPrefix(vec.Name, "header") {
			data = nil
		}
		add(vec.Name, v, data)
	}
	for name, v := range nippyExtra() {
		add(name, v, nil)
	}
	out := clojuretest.Run(t, nippyGenerator(t), input.Bytes(), "check")
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(toCheck) {
		t.Fatalf("nippy thawed %d values of %d", len(lines), len(toCheck))
	}
	for _, line := range lines {
		i, got, _ := strings.Cut(line, "\t")
		n, err := strconv.Atoi(i)
		if err != nil || n >= len(toCheck) {
			t.Fatalf("line %.100q", line)
		}
		if s := toCheck[n]; got != s.strict {
			t.Errorf("%s: nippy thaws %.300s, want %.300s", s.name, got, s.strict)
		}
	}
	t.Logf("%d values written as nippy writes them, %d thawed by nippy", same, len(toCheck))
}

// nippyHex is hex with spaces and comments (from # to the end of a line)
// left out.
func nippyHex(s string) []byte {
	var clean strings.Builder
	for line := range strings.SplitSeq(s, "\n") {
		line, _, _ = strings.Cut(line, "#")
		clean.WriteString(strings.ReplaceAll(line, " ", ""))
	}
	b, err := hex.DecodeString(clean.String())
	if err != nil {
		panic(err)
	}
	return b
}

// nippyLZ4 is data compressed as nippy's freeze does with LZ4, under its
// header, claiming size bytes uncompressed.
func nippyLZ4(t testing.TB, data []byte, size int) []byte {
	var c lz4.Compressor
	block := make([]byte, lz4.CompressBlockBound(len(data)))
	n, err := c.CompressBlock(data, block)
	if err != nil {
		t.Fatal(err)
	}
	out := binary.BigEndian.AppendUint32([]byte("NPY\x08"), uint32(size))
	return append(out, block[:n]...)
}

func TestNippyDecode(t *testing.T) {
	lzData := nippyHex("72 6401 6402 6403") // [1 2 3]
	for _, c := range []struct {
		name, hex string
		want      any
	}{
		{"long sm", "6405", int64(5)},
		{"plain header", "4e505900 6405", int64(5)},
		{"NPY alone is headerless, and no type", "4e5059", nil},
		{"meta on a key", "7001 19 7001 6a0161 08 6a0162 6401", map[string]any{"b": int64(1)}},
		{"map with a uint64 key", "7001 2c00000009 00ffffffffffffffff 03", map[any]any{uint64(math.MaxUint64): nil}},
		{"bigint not minimal", "2c00000004 00000001", int64(1)},
		{"bigint -1 padded", "2c00000003 ffffff", int64(-1)},
		{"kw-md-depr1", "4d00000001 61", "a"},
		{"sym-md-depr1", "4e00000001 61", "a"},
		{"quarantined Serializable", "4b03 413b43 0703 aced00", map[string]any{"nippy/unthawable": map[string]any{"type": "serializable", "cause": "quarantined", "class-name": "A;C"}}},
		{"Serializable md", "4c0001 41 35", map[string]any{"nippy/unthawable": map[string]any{"type": "serializable", "cause": "quarantined", "class-name": "A"}}},
		{"deep but not too deep", strings.Repeat("6e01", nippyMaxDepth) + "03", nil},
	} {
		data := nippyHex(c.hex)
		var got any
		err := Nippy.Unmarshal(data, &got)
		if c.name == "NPY alone is headerless, and no type" {
			if err == nil {
				t.Errorf("%s: no error", c.name)
			}
			continue
		}
		if c.name == "deep but not too deep" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if err != nil || nippyNotation(got) != nippyNotation(c.want) {
			t.Errorf("%s: %.100s, %v; want %s", c.name, nippyNotation(got), err, nippyNotation(c.want))
		}
	}
	var v any
	if err := Nippy.Unmarshal(nippyLZ4(t, lzData, len(lzData)), &v); err != nil || nippyNotation(v) != "[i1,i2,i3]" {
		t.Errorf("LZ4: %v, %v", v, err)
	}
}

func TestNippyDecodeErrors(t *testing.T) {
	tooDeep := strings.Repeat("6e01", nippyMaxDepth+1) + "03"
	lzData := nippyHex("72 6401 6402 6403")
	bomb := append(binary.BigEndian.AppendUint32([]byte("NPY\x08"), 1<<30), 0xff, 0xff, 0xff)
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "transport: nippy: unexpected EOF"},
		{"unknown type id", nippyHex("01"), "transport: nippy: unsupported type id 1 at offset 0"},
		{"unprefixed custom type", nippyHex("ff"), "transport: nippy: unsupported type id -1 at offset 0"},
		{"other prefixed custom type", nippyHex("52 0001"), "transport: nippy: unsupported custom type id 1 at offset 0"},
		{"record", nippyHex("30 0141 7001 6a0161 6401"), "transport: nippy: unsupported type id 48 at offset 0"},
		{"truncated long", nippyHex("2b 0000"), "transport: nippy: unexpected EOF"},
		{"truncated vector", nippyHex("72 6401 6402"), "transport: nippy: unexpected EOF"},
		{"string beyond the data", nippyHex("69 05 6161"), "transport: nippy: unexpected EOF"},
		{"string of 2 GiB", nippyHex("0d 7fffffff 61"), "transport: nippy: unexpected EOF"},
		{"negative count", nippyHex("69 ff"), "transport: nippy: negative count -1 at offset 1"},
		{"vector beyond the data", nippyHex("15 7fffffff 03"), "transport: nippy: unexpected EOF"},
		{"map beyond the data", nippyHex("70 02 0303"), "transport: nippy: unexpected EOF"},
		{"bigint of no bytes", nippyHex("2c 00000000"), "transport: nippy: a BigInteger of no bytes"},
		{"bigint beyond uint64", nippyHex("2c 00000009 010000000000000000"), "transport: nippy: integer out of range: it fits neither int64 nor uint64"},
		{"bigdec too long", append(nippyHex("3e 00000401"), make([]byte, 1025+4)...), "transport: nippy: a BigInteger of 1025 bytes in a BigDecimal or ratio, more than 1024"},
		{"ratio over zero", nippyHex("46 00000001 01 00000001 00"), "transport: nippy: a ratio with a zero denominator"},
		{"keyword and string", nippyHex("7002 6a0161 03 690161 03"), `transport: nippy: two map keys decode to "a"`},
		{"repeated key", nippyHex("7002 6401 03 6401 03"), "transport: nippy: two map keys decode to 1"},
		{"vector key", nippyHex("7001 11 03"), "transport: nippy: map key of type []interface {}"},
		{"Serializable without bytes", nippyHex("4b01 41 6401"), "transport: nippy: Serializable without its bytes at offset 0"},
		{"Serializable cut short", nippyHex("4b05 41"), "transport: nippy: unexpected EOF"},
		{"bad modified UTF-8", nippyHex("5271a1 0001ff 0000 0000 00000001"), "transport: nippy: malformed modified UTF-8 at byte 0 of a string"},
		{"too deep", nippyHex(tooDeep), "transport: nippy: nested deeper than 10000"},
		{"trailing data", nippyHex("03 03"), "transport: nippy: trailing data after the value at offset 1"},
		{"trailing data after a header", nippyHex("4e505900 03 03"), "transport: nippy: trailing data after the value at offset 1"},
		{"snappy", nippyHex("4e505901 03"), "transport: nippy: unsupported header: compressed with snappy"},
		{"lzma2", nippyHex("4e50590b 03"), "transport: nippy: unsupported header: compressed with LZMA2"},
		{"other compressor", nippyHex("4e505905 03"), "transport: nippy: unsupported header: compressed with an unknown compressor"},
		{"encrypted", nippyHex("4e50590e 03"), "transport: nippy: unsupported header: encrypted"},
		{"unknown flags", nippyHex("4e505914 03"), "transport: nippy: unsupported header: unknown flags 20"},
		{"LZ4 without a size", nippyHex("4e505908 0000"), "transport: nippy: unexpected EOF"},
		{"LZ4 of nothing", nippyHex("4e505908 00000000"), "transport: nippy: LZ4 body of 0 bytes uncompressed"},
		{"LZ4 bomb", bomb, "transport: nippy: LZ4 body of 1073741824 bytes uncompressed, more than the 16777216 allowed"},
		{"LZ4 claiming more than it holds", nippyLZ4(t, lzData, 1<<20), "transport: nippy: LZ4 body claims 1048576 bytes uncompressed from 8: unexpected EOF"},
		{"LZ4 claiming more than it has", nippyLZ4(t, lzData, 8), "transport: nippy: LZ4 body of 7 bytes uncompressed, 8 claimed"},
		{"LZ4 claiming less than it has", nippyLZ4(t, lzData, 6), "transport: nippy: LZ4: lz4: invalid source or destination buffer too short"},
	} {
		var v any
		err := Nippy.Unmarshal(c.data, &v)
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: error %v, want %s", c.name, err, c.want)
		}
		if _, aerr := DecodeArgs(Nippy, c.data, -1); len(c.data) > 0 && (aerr == nil || aerr.Error() != c.want) {
			t.Errorf("%s: as arguments, error %v, want %s", c.name, aerr, c.want)
		}
	}
	var v any
	if err := Nippy.Unmarshal(nil, &v); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("empty: %v does not wrap io.ErrUnexpectedEOF", err)
	}
	if err := Nippy.Unmarshal(nippyHex("4e505901 03"), &v); !errors.Is(err, errNippyHeader) {
		t.Errorf("snappy: %v does not wrap errNippyHeader", err)
	}
	if err := Nippy.Unmarshal(nippyHex("03 03"), &v); !errors.Is(err, errTrailingData) {
		t.Errorf("trailing: %v does not wrap errTrailingData", err)
	}
}

func TestNippyDecodeTargets(t *testing.T) {
	data := nippyHex("72 6401 690161 7001 6a0161 08") // [1 "a" {:a true}]
	var args []any
	if err := Nippy.Unmarshal(data, &args); err != nil || nippyNotation(args) != "[i1,s61,{s61:t}]" {
		t.Errorf("*[]any: %v, %v", args, err)
	}
	var m map[string]any
	if err := Nippy.Unmarshal(nippyHex("7001 6a0161 08"), &m); err != nil || m["a"] != true {
		t.Errorf("*map[string]any: %v, %v", m, err)
	}
	if err := Nippy.Unmarshal(nippyHex("03"), &m); err != nil || m != nil {
		t.Errorf("*map[string]any of nil: %v, %v", m, err)
	}
	if err := Nippy.Unmarshal(data, &m); err == nil {
		t.Error("*map[string]any of a vector: no error")
	}
	if err := Nippy.Unmarshal(nippyHex("6401"), &args); err == nil {
		t.Error("*[]any of a long: no error")
	}
	var n int64
	if err := Nippy.Unmarshal(nippyHex("6405"), &n); err != nil || n != 5 {
		t.Errorf("*int64: %d, %v", n, err)
	}
	var s string
	if err := Nippy.Unmarshal(nippyHex("6a0161"), &s); err != nil || s != "a" {
		t.Errorf("*string: %q, %v", s, err)
	}
	if err := Nippy.Unmarshal(nippyHex("6405"), &s); err == nil {
		t.Error("*string of a long: no error")
	}
	var x struct{}
	if err := Nippy.Unmarshal(nippyHex("6405"), &x); err == nil {
		t.Error("*struct{}: no error")
	}
	if err := Nippy.Unmarshal(nippyHex("6405"), (*any)(nil)); err == nil {
		t.Error("nil *any: no error")
	}
}

func TestNippyMarshal(t *testing.T) {
	for _, c := range []struct {
		v    any
		want string
	}{
		{nil, "03"},
		{true, "08"},
		{int64(0), "00"},
		{-128, "6480"},
		{uint16(128), "650080"},
		{uint32(math.MaxUint32), "2b00000000ffffffff"},
		{uint64(math.MaxUint64), "2c00000009 00ffffffffffffffff"},
		{0.0, "37"},
		{math.Copysign(0, -1), "3d8000000000000000"},
		{float32(1.5), "3d3ff8000000000000"},
		{"", "22"},
		{strings.Repeat("x", 128)[:3], "6903787878"},
		{[]byte{}, "35"},
		{[]byte(nil), "03"},
		{[]any{}, "11"},
		{[]any{1, 2}, "71 6401 6402"},
		{[]string{"a", "b", "c"}, "72 690161 690162 690163"},
		{map[string]any{}, "13"},
		{map[string]any{"b": 1, "a": nil, "a b": 2}, "7003 6a0161 03 6903612062 6402 6a0162 6401"},
		{map[string]string{"ns/k": "v"}, "7001 6a046e732f6b 690176"},
		{map[any]any{int64(2): nil, "a": 1}, "7002 6402 03 6a0161 6401"},
	} {
		got, err := Nippy.Marshal(c.v)
		if want := nippyHex(c.want); err != nil || !bytes.Equal(got, want) {
			t.Errorf("Marshal(%#v) = %x, %v; want %x", c.v, got, err, want)
		}
	}
	deep := any(nil)
	for range nippyMaxDepth + 1 {
		deep = []any{deep}
	}
	for _, v := range []any{[]any{1, complex(1, 2)}, map[string]any{"a": make(chan int)}, deep} {
		if _, err := Nippy.Marshal(v); !errors.Is(err, errNippyType) {
			t.Errorf("Marshal(%.40T): %v, want errNippyType", v, err)
		}
	}
}

// TestNippyRoundTrip encodes values of every type Marshal takes and
// decodes them back.
func TestNippyRoundTrip(t *testing.T) {
	for name, v := range nippyExtra() {
		b, err := Nippy.Marshal(v)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got any
		if err := Nippy.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// The notation of what was written, ints boxed as int64 and
		// []string as []any.
		want := nippyNotation(nippyNormal(v))
		if n := nippyNotation(got); n != want {
			t.Errorf("%s: %.200s, want %.200s", name, n, want)
		}
	}
}

// nippyNormal is v as the codec decodes it.
func nippyNormal(v any) any {
	switch v := v.(type) {
	case int8, int16, int32, int, uint8, uint16, uint32, uint:
		n, _ := strconv.ParseInt(fmt.Sprint(v), 10, 64)
		return n
	case uint64:
		if v <= math.MaxInt64 {
			return int64(v)
		}
	case float32:
		return float64(v)
	case []string:
		if v == nil {
			return nil
		}
		return nippyNormal(anySlice(v))
	case map[string]string:
		if v == nil {
			return nil
		}
		m := map[string]any{}
		for k, x := range v {
			m[k] = x
		}
		return m
	case []byte:
		if v == nil {
			return nil
		}
	case []any:
		if v == nil {
			return nil
		}
		a := make([]any, len(v))
		for i, x := range v {
			a[i] = nippyNormal(x)
		}
		return a
	case map[string]any:
		if v == nil {
			return nil
		}
		m := map[string]any{}
		for k, x := range v {
			m[k] = nippyNormal(x)
		}
		return m
	case map[any]any:
		if v == nil {
			return nil
		}
		m := map[any]any{}
		strs := map[string]any{} // the decoder's type when every key is a string
		for k, x := range v {
			m[nippyNormal(k)] = nippyNormal(x)
			if s, ok := k.(string); ok && strs != nil {
				strs[s] = nippyNormal(x)
			} else {
				strs = nil
			}
		}
		if strs != nil {
			return strs
		}
		return m
	}
	return v
}

// TestNippyDecodeArgsBudget checks the budget's boundary: a body estimated
// at the budget decodes, with a byte less it is refused before decoding,
// an LZ4 body before it is uncompressed.
func TestNippyDecodeArgsBudget(t *testing.T) {
	plain := append(nippyHex("15 00004e20"), bytes.Repeat(nippyHex("6a0178"), 20000)...) // 20000 :x
	for name, data := range map[string][]byte{
		"plain": plain,
		"lz4":   nippyLZ4(t, plain, len(plain)),
	} {
		est, err := nippyEstimate(data)
		if err != nil {
			t.Fatal(err)
		}
		if args, err := DecodeArgs(Nippy, data, est); err != nil || len(args) != 20000 {
			t.Fatalf("%s: at the budget: %d args, %v", name, len(args), err)
		}
		var args []any
		got := allocated(func() { args, err = DecodeArgs(Nippy, data, est-1) })
		if !errors.Is(err, ErrBodyTooComplex) || args != nil {
			t.Fatalf("%s: over the budget: %d args, %v", name, len(args), err)
		}
		if name == "plain" && got > 4096 {
			t.Errorf("%s: refusing allocated %d bytes", name, got)
		}
		checkEstimate(t, Nippy, data)
		if name == "lz4" {
			if _, err := DecodeArgs(Nippy, data, 1000); !errors.Is(err, ErrBodyTooComplex) {
				t.Fatalf("lz4 within 1000 bytes: %v", err)
			}
			got := allocated(func() { _, _ = DecodeArgs(Nippy, data, 1000) })
			if got > 4096 {
				t.Errorf("refusing an LZ4 body allocated %d bytes", got)
			}
		}
	}
}

// TestNippyEstimateCoversAllocation decodes bodies of many small values,
// each the shape an attack would use.
func TestNippyEstimateCoversAllocation(t *testing.T) {
	const n = 20000
	for name, elem := range map[string]string{
		"small ints":   "6405",
		"large ints":   "6600012c00",
		"doubles":      "3d3ff8000000000000",
		"floats":       "3c3fc00000",
		"nils":         "03",
		"empty maps":   "13",
		"empty vecs":   "11",
		"empty bytes":  "35",
		"strings":      "690178",
		"keywords":     "6a0178",
		"chars":        "0a2603",
		"dates":        "5a0000018cc820db2e",
		"uuids":        "5b0f1e2d3c4b5a69788796a5b4c3d2e1f0",
		"one-key maps": "7001 6a0161 03",
		"int keys":     "7001 6401 03",
		"nine keys":    "7009 6a0161 03 6a0162 03 6a0163 03 6a0164 03 6a0165 03 6a0166 03 6a0167 03 6a0168 03 6a0169 03",
		"nested":       "6e01 6e01 11",
		"bigints":      "2c00000009 00ffffffffffffffff",
		"bigdecs":      "3e00000003fe1dc000000003",
		"ratios":       "4600000001010000000103",
		"exceptions":   "5271a10003612e4200016d0006422e6a6176610000000c",
		"metas":        "19 13 03",
	} {
		t.Run(name, func(t *testing.T) {
			checkShape(t, Nippy, append(nippyHex("15 00004e20"), bytes.Repeat(nippyHex(elem), n)...))
		})
	}
}

// FuzzNippyDecode decodes arbitrary bodies: no input may panic, or
// allocate beyond the estimate, and a decoded value must encode to a body
// that decodes to the same value.
func FuzzNippyDecode(f *testing.F) {
	for _, v := range loadNippyVectors(f) {
		if b := v.bytes(f); len(b) < 4096 {
			f.Add(b)
		}
	}
	for _, s := range []string{"7002 6a0161 03 690161 03", "52 71a1 0001ff 0000 0000 00000001", "4e505908 00000000", "19 7001 6a0161 03 6401", "2c 00000000", "7001 6a0161 4b03 413b43 0703 aced00"} {
		f.Add(nippyHex(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v any
		err := Nippy.Unmarshal(data, &v)
		if _, eerr := nippyEstimate(data); eerr != nil {
			if err == nil {
				t.Fatalf("%x: the estimate refuses (%v), Unmarshal does not", data, eerr)
			}
			return
		}
		checkEstimate(t, Nippy, data)
		if err != nil {
			return
		}
		b, err := Nippy.Marshal(v)
		if err != nil {
			t.Fatalf("%x decoded to %.200s, which does not encode: %v", data, nippyNotation(v), err)
		}
		var again any
		if err := Nippy.Unmarshal(b, &again); err != nil {
			t.Fatalf("%x decoded to %.200s, encoded as %x, which does not decode: %v", data, nippyNotation(v), b, err)
		}
		if nippyNotation(again) != nippyNotation(v) {
			t.Fatalf("%x decoded to %.200s, and again to %.200s", data, nippyNotation(v), nippyNotation(again))
		}
	})
}

func BenchmarkNippyMarshal(b *testing.B)   { benchmarkMarshal(b, Nippy) }
func BenchmarkNippyUnmarshal(b *testing.B) { benchmarkUnmarshal(b, Nippy) }
