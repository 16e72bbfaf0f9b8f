package transport

import (
	"fmt"
	"math"
	"slices"
)

// A request's arguments are decoded within a budget: before a body is
// decoded, a pre-scan that allocates nothing walks it and estimates what
// decoding it would allocate, and a body whose estimate passes the budget
// is refused without being decoded. The estimate is an upper bound of the
// bytes Go allocates for the decoded value, counted as the runtime counts
// them (each allocation rounded up to its size class), with these costs on
// 64-bit platforms:
//
//	nil, bool                       0 (an interface holds them without allocating)
//	int64, uint64, float64          8, the boxed number; for a JSON number
//	                                other than an integer of at most 18
//	                                digits, its text rounded up too
//	string of n bytes (n > 0)       16 for the boxed header, and n rounded up
//	[]byte of n bytes               24 for the boxed header, and n rounded up
//	[]any of n elements             24 for the boxed header, and 16 n rounded up
//	map of n pairs                  the map as the runtime lays it out when
//	                                made for n: 48 bytes when n is 0, one
//	                                group of 8 slots (288) up to 8, a table
//	                                of groups up to 896, and beyond three
//	                                times the tables of groups (one may
//	                                split while filled); twice that for a msgpack
//	                                map with keys that are not all strings,
//	                                which is made again as a map[any]any
//	map key string of n bytes       as a string for msgpack (decoded as a
//	                                value first), n rounded up for JSON
//
// An object holding pointers (a []any's elements, a map's groups) of more
// than 512 bytes and at most 32 KiB is counted with the 8-byte header the
// runtime puts before it, then rounded up.
//
// The JSON decoder adds 4 bytes for every array and object (its element
// counts, found by the scan so that every slice and map is made at its size).
//
// On the server the budget of a body of n bytes is [DecodeBudget](n):
// DecodeRatio times n plus DecodeFloor. A 16 MiB body may so decode to
// 257 MiB at most; a body of empty maps (64 bytes each in Go for its one
// byte) or of small maps is refused, a body of small integers (16 bytes
// each) or of strings is not.

// DecodeRatio and DecodeFloor set the server's decoding budget, see
// [DecodeBudget].
const (
	DecodeRatio = 16
	DecodeFloor = 1 << 20
)

// DecodeBudget is the most a request body of size bytes may allocate when
// its arguments are decoded: DecodeRatio*size + DecodeFloor.
func DecodeBudget(size int) int {
	if size > (math.MaxInt-DecodeFloor)/DecodeRatio {
		return math.MaxInt
	}
	return DecodeRatio*size + DecodeFloor
}

// DecodeArgs decodes body, the arguments of a call, with c, refusing a
// body whose decoded size the codec estimates above budget bytes with an
// error wrapping ErrBodyTooComplex, before decoding anything. The codecs
// of this package (JSON and Msgpack) estimate, see [DecodeBudget]; any
// other codec's Unmarshal is called as it is. An empty body is no
// arguments.
func DecodeArgs(c Codec, body []byte, budget int) ([]any, error) {
	if len(body) == 0 {
		return nil, nil
	}
	if d, ok := c.(argsDecoder); ok {
		return d.decodeArgs(body, budget)
	}
	var args []any
	err := c.Unmarshal(body, &args)
	return args, err
}

// argsDecoder is a codec that decodes arguments within a budget.
type argsDecoder interface {
	decodeArgs(data []byte, budget int) ([]any, error)
}

// tooComplex is the error of a body whose estimate passes budget.
func tooComplex(estimate, budget int) error {
	return &tooComplexError{estimate, budget}
}

// tooComplexError is ErrBodyTooComplex for a body whose estimate passes
// its budget. Its text, without the package's prefix, is the exception
// callers get.
type tooComplexError struct{ estimate, budget int }

func (e *tooComplexError) Error() string {
	return fmt.Sprintf("arguments too large to decode: they would take %d bytes decoded, more than the %d allowed", e.estimate, e.budget)
}
func (e *tooComplexError) Is(target error) bool { return target == ErrBodyTooComplex }

// Costs of decoded values, in bytes, as the estimate counts them.
const (
	costNumber      = 8  // a boxed int64, uint64 or float64
	costStringBox   = 16 // a boxed string header
	costSliceBox    = 24 // a boxed slice header
	costElem        = 16 // an interface in a []any
	costMap         = 48 // a map's header
	costMapGroup    = 8 + 8*32
	costMapTable    = 48 // a table of a large map
	costJSONCounter = 4  // an element count of the JSON decoder
	mapGroupSlots   = 8
	mapTableSlots   = 1024
)

// costString is the cost of a string of n bytes held in an interface.
func costString(n int) int {
	if n == 0 {
		return 0
	}
	return costStringBox + roundAlloc(n)
}

// costBytes is the cost of a []byte of n bytes held in an interface.
func costBytes(n int) int { return costSliceBox + roundAlloc(n) }

// costArray is the cost of a []any of n elements held in an interface,
// without the costs of its elements.
func costArray(n int) int {
	if n == 0 {
		return costSliceBox
	}
	return costSliceBox + roundAllocPointers(costElem*n)
}

// costMapOf is the cost of a map with 16-byte keys and values (strings or
// interfaces to any) made for n pairs, without the costs of its keys and
// values.
func costMapOf(n int) int {
	switch {
	case n == 0:
		return costMap
	case n <= mapGroupSlots:
		return costMap + roundAllocPointers(costMapGroup)
	}
	target := n * mapGroupSlots / 7
	tables := pow2((target + mapTableSlots - 1) / mapTableSlots)
	slots := max(pow2(target/tables), mapGroupSlots)
	table := costMapTable + roundAllocPointers(slots/mapGroupSlots*costMapGroup)
	if tables == 1 {
		return costMap + roundAlloc(8) + table
	}
	// Keys spread unevenly over the tables: one may fill and split in
	// two, each the size of the first, while the map is filled.
	return costMap + 3*roundAlloc(8*tables) + 3*tables*table
}

// pow2 is the least power of two at least n, for n >= 1.
func pow2(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}

// sizeClasses are the sizes the Go runtime allocates small objects in.
var sizeClasses = []int{
	8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256,
	288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280,
	1408, 1536, 1792, 2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528,
	6784, 6912, 8192, 9472, 9728, 10240, 10880, 12288, 13568, 14336, 16384, 18432, 19072,
	20480, 21760, 24576, 27264, 28672, 32768,
}

// roundAllocPointers is roundAlloc for an object that holds pointers: from
// 512 bytes to 32 KiB, the runtime puts an 8-byte header before it.
func roundAllocPointers(n int) int {
	if n > 512 && n <= sizeClasses[len(sizeClasses)-1]-8 {
		n += 8
	}
	return roundAlloc(n)
}

// roundAlloc is n rounded up as the runtime allocates it: to its size
// class, or beyond 32 KiB to whole 8 KiB pages.
func roundAlloc(n int) int {
	if n <= 0 {
		return 0
	}
	if n > sizeClasses[len(sizeClasses)-1] {
		const page = 8 << 10
		return (n + page - 1) / page * page
	}
	i, _ := slices.BinarySearch(sizeClasses, n)
	return sizeClasses[i]
}
