package transport

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// allocated returns what f allocates, in bytes, as the runtime counts them:
// the least of three runs, as the runtime may allocate for itself meanwhile.
func allocated(f func()) int {
	least := -1
	for range 3 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		if n := int(after.TotalAlloc - before.TotalAlloc); least < 0 || n < least {
			least = n
		}
	}
	return least
}

// allocSlack is what the estimate may be short of a measure: the tiny
// allocator hands out 16-byte blocks to values the estimate counts as 8,
// and the runtime allocates a little of its own meanwhile.
const allocSlack = 256

// estimate returns the estimate of codec c for data.
func estimate(t testing.TB, c Codec, data []byte) (int, error) {
	t.Helper()
	var cost int
	var err error
	switch c {
	case Msgpack:
		return msgpackCheck(data)
	case EDN:
		cost, _, err = ednScan(data)
	case Nippy:
		return nippyEstimate(data)
	default:
		cost, _, err = jsonScan(data)
	}
	return cost, err
}

// checkEstimate decodes data with c, within no budget, and fails t when
// decoding allocated more than the estimate.
func checkEstimate(t testing.TB, c Codec, data []byte) {
	t.Helper()
	est, err := estimate(t, c, data)
	if err != nil {
		t.Fatalf("%v: %q: scan refuses: %v", c.ContentType(), data, err)
	}
	var derr error
	var v any
	got := allocated(func() {
		switch c {
		case Msgpack:
			v, _, derr = msgpackValue(data)
		case EDN:
			v, derr = ednDecode(data, -1)
		case Nippy:
			derr = Nippy.Unmarshal(data, &v)
		default:
			v, derr = jsonDecode(data, -1)
		}
	})
	runtime.KeepAlive(v)
	if derr != nil {
		return // a number out of range: found while decoding
	}
	if got > est+allocSlack && !raceEnabled {
		t.Fatalf("%v: %.200q: decoding allocated %d bytes, estimated %d", c.ContentType(), data, got, est)
	}
}

// shapes are bodies of many small values, each the shape an attack would
// use, in msgpack, JSON and EDN: shapeCodecs' order.
func shapes() map[string][3][]byte {
	const n = 20000
	mp := func(elem string) []byte {
		e, err := hex.DecodeString(elem)
		if err != nil {
			panic(err)
		}
		return append([]byte{0xdd, 0, 0, n >> 8, n & 0xff}, bytes.Repeat(e, n)...)
	}
	js := func(elem string) []byte {
		return []byte("[" + strings.TrimSuffix(strings.Repeat(elem+",", n), ",") + "]")
	}
	edn := func(elem string) []byte {
		return []byte("[" + strings.TrimSuffix(strings.Repeat(elem+" ", n), " ") + "]")
	}
	bigMap := func(format, sep string) []byte {
		var keys strings.Builder
		keys.WriteString("{")
		for i := range n {
			if i > 0 {
				keys.WriteString(sep)
			}
			fmt.Fprintf(&keys, format, i, i)
		}
		keys.WriteString("}")
		return []byte(keys.String())
	}
	return map[string][3][]byte{
		"small ints":   {mp("05"), js("5"), edn("5")},
		"large ints":   {mp("cd012c"), js("300000"), edn("300000")},
		"big ints":     {nil, nil, edn("9223372036854775807")},
		"floats":       {mp("cb3ff8000000000000"), js("1.5"), edn("1.5")},
		"ratios":       {nil, nil, edn("1/3")},
		"nils":         {mp("c0"), js("null"), edn("nil")},
		"empty maps":   {mp("80"), js("{}"), edn("{}")},
		"empty arrays": {mp("90"), js("[]"), edn("[]")},
		"empty sets":   {nil, nil, edn("#{}")},
		"strings":      {mp("a178"), js(`"x"`), edn(`"x"`)},
		"keywords":     {nil, nil, edn(`:x`)},
		"chars":        {nil, nil, edn(`\x`)},
		"escapes":      {mp("a3e29883"), js(`"\u2603\n"`), edn(`"\u2603\n"`)},
		"insts":        {nil, nil, edn(`#inst "2024-01-02T03:04:05.678+02:00"`)},
		"uuids":        {nil, nil, edn(`#uuid "6BA7B810-9DAD-11D1-80B4-00C04FD430C8"`)},
		"one-key maps": {mp("81a0c0"), js(`{"":null}`), edn(`{"" nil}`)},
		"int keys":     {mp("8101c0"), js(`{"1":null}`), edn(`{1 nil}`)},
		"eight keys":   {mp("88a161c0a162c0a163c0a164c0a165c0a166c0a167c0a168c0"), js(`{"a":0,"b":0,"c":0,"d":0,"e":0,"f":0,"g":0,"h":0}`), edn(`{:a 0 :b 0 :c 0 :d 0 :e 0 :f 0 :g 0 :h 0}`)},
		"nine keys":    {mp("89a161c0a162c0a163c0a164c0a165c0a166c0a167c0a168c0a169c0"), js(`{"a":0,"b":0,"c":0,"d":0,"e":0,"f":0,"g":0,"h":0,"i":0}`), edn(`{:a 0 :b 0 :c 0 :d 0 :e 0 :f 0 :g 0 :h 0 :i 0}`)},
		"nested":       {mp("919190"), js("[[[]]]"), edn("[[[]]]")},
		"discarded":    {nil, nil, edn("#_[] 1")},
		"bins":         {mp("c40101"), nil, nil},
		"one big map":  {nil, bigMap(`"k%d":%d`, ","), bigMap(`:k%d %d`, " ")},
	}
}

// shapeCodecs are the codecs of the bodies of shapes, in order.
var shapeCodecs = []Codec{Msgpack, JSON, EDN}

// TestEstimateCoversAllocation decodes bodies of many small values and
// checks that the estimate is at least what decoding allocated, and not
// far above it.
func TestEstimateCoversAllocation(t *testing.T) {
	for name, bodies := range shapes() {
		for i, c := range shapeCodecs {
			data := bodies[i]
			if data == nil {
				continue
			}
			t.Run(fmt.Sprintf("%s/%v", name, c.ContentType()), func(t *testing.T) { checkShape(t, c, data) })
		}
	}
}

// checkShape checks that the estimate of c for data is at least what
// decoding allocates, and not far above it.
func checkShape(t *testing.T, c Codec, data []byte) {
	t.Helper()
	checkEstimate(t, c, data)
	est, _ := estimate(t, c, data)
	var v any
	got := allocated(func() { _ = c.Unmarshal(data, &v) })
	runtime.KeepAlive(v)
	if est > 4*got+allocSlack && !raceEnabled {
		t.Errorf("estimate %d is more than 4 times the %d bytes allocated", est, got)
	}
	t.Logf("%d bytes: estimate %d (%.1f per byte), allocated %d", len(data), est, float64(est)/float64(len(data)), got)
}

// TestDecodeArgsBudget checks the budget's boundary: a body estimated at
// the budget decodes, one byte less of budget refuses it with
// ErrBodyTooComplex before decoding.
func TestDecodeArgsBudget(t *testing.T) {
	for name, bodies := range shapes() {
		for i, c := range shapeCodecs {
			data := bodies[i]
			if data == nil || data[0] == '{' {
				continue
			}
			t.Run(fmt.Sprintf("%s/%v", name, c.ContentType()), func(t *testing.T) {
				est, err := estimate(t, c, data)
				if err != nil {
					t.Fatal(err)
				}
				if args, err := DecodeArgs(c, data, est); err != nil || len(args) != 20000 {
					t.Fatalf("at the budget: %d args, %v", len(args), err)
				}
				var args []any
				got := allocated(func() { args, err = DecodeArgs(c, data, est-1) })
				if !errors.Is(err, ErrBodyTooComplex) || args != nil {
					t.Fatalf("over the budget: %d args, %v", len(args), err)
				}
				want := fmt.Sprintf("arguments too large to decode: they would take %d bytes decoded, more than the %d allowed", est, est-1)
				if err.Error() != want {
					t.Errorf("error %q, want %q", err, want)
				}
				if got > 4096 {
					t.Errorf("refusing allocated %d bytes", got)
				}
			})
		}
	}
}

// TestDecodeBudgetRefuses checks which 16 MiB bodies the server's budget
// refuses.
func TestDecodeBudgetRefuses(t *testing.T) {
	const size = 16 << 20
	for _, c := range []struct {
		name   string
		codec  Codec
		elem   string
		refuse bool
	}{
		{"msgpack empty maps", Msgpack, "\x80", true},
		{"msgpack empty arrays", Msgpack, "\x90", true},
		{"msgpack small ints", Msgpack, "\x05", false},
		{"msgpack one-byte strings", Msgpack, "\xa1x", true},
		{"msgpack one-key maps", Msgpack, "\x81\xa0\xc0", true},
		{"msgpack eight-byte strings", Msgpack, "\xa8abcdefgh", false},
		{"json empty maps", JSON, "{},", true},
		{"json small ints", JSON, "5,", false},
		{"json strings", JSON, `"x",`, false},
		{"edn empty maps", EDN, "{} ", true},
		{"edn empty sets", EDN, "#{} ", false},
		{"edn small ints", EDN, "5 ", false},
		{"edn strings", EDN, `"x" `, false},
		{"edn keywords", EDN, ":x ", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := (size - 6) / len(c.elem)
			var data []byte
			if c.codec == Msgpack {
				data = append([]byte{0xdd, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, bytes.Repeat([]byte(c.elem), n)...)
			} else {
				data = append([]byte{'['}, bytes.Repeat([]byte(c.elem), n)...)
				data[len(data)-1] = ']'
			}
			est, err := estimate(t, c.codec, data)
			if err != nil {
				t.Fatal(err)
			}
			if refused := est > DecodeBudget(len(data)); refused != c.refuse {
				t.Errorf("estimate %d (%.1f per byte), budget %d: refused %v", est, float64(est)/float64(len(data)), DecodeBudget(len(data)), refused)
			}
		})
	}
}

func TestJSONScanErrors(t *testing.T) {
	for in, want := range map[string]string{
		``:                       "transport: json: no value: unexpected EOF",
		`[1,`:                    "transport: json: unexpected end of input looking for a value: unexpected EOF",
		`[1 2]`:                  `transport: json: invalid character '2' after an element at offset 3`,
		`{"a" 1}`:                `transport: json: invalid character '1' after an object key at offset 5`,
		`{1:2}`:                  `transport: json: invalid character '1' looking for the beginning of an object key at offset 1`,
		"\"\x01\"":               `transport: json: invalid character '\x01' in a string at offset 1`,
		`"\q"`:                   `transport: json: invalid character 'q' in a string escape at offset 2`,
		`01`:                     `transport: json: trailing data after the value at offset 1`,
		`-`:                      "transport: json: unexpected end of input in a number: unexpected EOF",
		`1.`:                     "transport: json: unexpected end of input after a decimal point: unexpected EOF",
		`tru`:                    "transport: json: unexpected end of input in literal true: unexpected EOF",
		`[1e400]`:                "transport: json: number out of range: 1e400 is beyond float64",
		`[-1e99999]`:             "transport: json: number out of range: -1e99999 is beyond float64",
		`[99999999999999999999]`: "transport: json: number out of range: integer 99999999999999999999 fits neither int64 nor uint64",
		strings.Repeat("[", jsonMaxDepth+1) + strings.Repeat("]", jsonMaxDepth+1): "transport: json: nested deeper than 10000",
	} {
		var v any
		err := JSON.Unmarshal([]byte(in), &v)
		if err == nil || err.Error() != want {
			t.Errorf("%.40q: error %v, want %s", in, err, want)
		}
	}
	var v any
	if err := JSON.Unmarshal([]byte(`[99999999999999999999]`), &v); !errors.Is(err, errJSONRange) {
		t.Errorf("out of range: %v does not wrap errJSONRange", err)
	}
}

// jsonReference decodes data as encoding/json does, with its numbers
// converted by jsonNumber: what the JSON codec must decode.
func jsonReference(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if len(bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n")) > 0 {
		return nil, errTrailingData
	}
	return jsonReferenceNumbers(v)
}

func jsonReferenceNumbers(v any) (any, error) {
	switch v := v.(type) {
	case json.Number:
		return jsonNumber(string(v))
	case []any:
		for i, e := range v {
			x, err := jsonReferenceNumbers(e)
			if err != nil {
				return nil, err
			}
			v[i] = x
		}
	case map[string]any:
		for k, e := range v {
			x, err := jsonReferenceNumbers(e)
			if err != nil {
				return nil, err
			}
			v[k] = x
		}
	}
	return v, nil
}

// FuzzJSONScan checks the JSON pre-scan and decoder against encoding/json:
// they accept the same texts and decode them to the same values, and the
// scan's estimate is at least what decoding allocates.
func FuzzJSONScan(f *testing.F) {
	addSeeds(f, "json")
	for _, bodies := range shapes() {
		if b := bodies[1]; b != nil && len(b) < 4096 {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want, werr := jsonReference(data)
		got, gerr := jsonDecode(data, -1)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%q: encoding/json: %v; the codec: %v", data, werr, gerr)
		}
		if werr != nil {
			return
		}
		if !sameValue(got, want, false) {
			t.Fatalf("%q: decoded to %#v, encoding/json to %#v", data, got, want)
		}
		checkEstimate(t, JSON, data)
	})
}

// FuzzMsgpackCheck checks the msgpack pre-check against the decoder: what
// it accepts decodes (or is an extension value, which the decoder refuses),
// what it refuses the library refuses too, and its estimate is at least
// what decoding allocates.
func FuzzMsgpackCheck(f *testing.F) {
	addSeeds(f, "msgpack")
	for _, bodies := range shapes() {
		if b := bodies[0]; b != nil && len(b) < 4096 {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := msgpackCheck(data)
		if err != nil {
			return
		}
		if _, _, derr := msgpackValue(data); derr != nil {
			if !strings.Contains(string(data), "") { // unreachable: keeps data in the message
				t.Fatal()
			}
			return // an extension value, or a map key of a type no map takes
		}
		checkEstimate(t, Msgpack, data)
	})
}

// addSeeds adds the files of testdata/budget/KIND to f's corpus.
func addSeeds(f *testing.F, kind string) {
	files, err := filepath.Glob(filepath.Join("testdata", "budget", kind, "*"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// TestEstimateCountsMallocHeaders decodes arrays of nils, which allocate
// only their backing arrays: from 512 bytes to 32 KiB the runtime puts a
// header before an object with pointers, which may move it to a larger size
// class, and the estimate must count it.
func TestEstimateCountsMallocHeaders(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates for itself")
	}
	for _, n := range []int{32, 33, 128, 1000, 2047, 2048} {
		data := append([]byte{0xdc, byte(n >> 8), byte(n)}, bytes.Repeat([]byte{0xc0}, n)...)
		est, err := msgpackCheck(data)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		got := allocated(func() { v, _, _ = msgpackValue(data) })
		runtime.KeepAlive(v)
		if got > est {
			t.Errorf("%d nils: decoding allocated %d bytes, estimated %d", n, got, est)
		}
	}
}
