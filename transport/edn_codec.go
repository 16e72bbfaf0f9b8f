package transport

// EDN is the codec of content type 2, slacker's "clj": the text Clojure's
// pr-str writes and clojure.edn/read-string reads, which slacker's clients
// send by default. See [Codec] for the types it decodes into; EDN elements
// become these:
//
//	nil, true, false        nil, bool
//	integers                int64, uint64 above math.MaxInt64, an N suffix
//	                        too; beyond uint64 an error
//	floats, 1.5M, ##NaN     float64 (BigDecimals lose their precision)
//	ratios, 1/3             float64
//	"strings"               string
//	:keywords, symbols      string, without the colon; "ns/name" when
//	                        namespaced
//	\c characters           string of the character
//	[vectors], (lists),     []any
//	#{sets}
//	{maps}                  map[string]any when every key decodes to a
//	                        string, else map[any]any; a key that is a
//	                        collection or NaN, and keys that decode to the
//	                        same value (:a and "a"), are an error
//	#inst "..."             string, the instant in UTC with milliseconds:
//	                        "2024-01-02T03:04:05.678Z"
//	#uuid "..."             string, in lower case
//
// Any other tag, metadata, and #_ are an error, except that #_ discards the
// next element, as in EDN. Nesting is limited to 10000 levels.
//
// Marshal writes the types of [Codec] with pr-str's syntax: a map[string]any
// key that is a valid keyword name as a keyword (Clojure callers send
// keyword keys), any other key as what it is; strings as strings; []byte as
// a base64 string, as the JSON codec; NaN and infinities as ##NaN, ##Inf
// and ##-Inf. A value of any other Go type is written as encoding/json
// encodes it, read back: a struct as a map keyed by its JSON field names.
// Unmarshal into a type other than those of [Codec] decodes the same way,
// through encoding/json.
var EDN Codec = ednCodec{}

type ednCodec struct{}

func (ednCodec) ContentType() ContentType { return ContentEDN }

func (ednCodec) Marshal(v any) ([]byte, error) {
	return ednWriter{maxDepth: ednCodecMaxDepth, codec: true}.append(make([]byte, 0, 32), v, 0)
}

func (ednCodec) Unmarshal(data []byte, v any) error {
	if ok, err := decodeInto("transport: edn", v,
		func() (any, error) { return ednDecode(data, -1) },
		func() ([]any, error) { return ednArgs(data, -1) }); ok {
		return err
	}
	x, err := ednDecode(data, -1)
	if err != nil {
		return err
	}
	return unmarshalViaJSON(x, v)
}

func (ednCodec) decodeArgs(data []byte, budget int) ([]any, error) {
	return ednArgs(data, budget)
}

// ednArgs decodes data, a vector or a list of arguments or nil, within
// budget bytes unless budget is negative.
func ednArgs(data []byte, budget int) ([]any, error) {
	x, err := ednDecode(data, budget)
	if err != nil {
		return nil, err
	}
	return asArgs("transport: edn", x)
}

// ednDecode checks data, refuses it when its estimate passes budget (a
// negative budget has no bound) and decodes it.
func ednDecode(data []byte, budget int) (any, error) {
	cost, containers, err := ednScan(data)
	if err != nil {
		return nil, err
	}
	if budget >= 0 && cost > budget {
		return nil, tooComplex(cost, budget)
	}
	d := ednDecoder{data: data, counts: ednCounts(data, containers)}
	return d.value()
}
