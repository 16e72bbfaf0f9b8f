package transport

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/pierrec/lz4/v4"
)

// Nippy's header: "NPY" and a byte of flags, of which this package reads
// two values. An LZ4 body is the uncompressed size, an int, and an LZ4
// block.
const (
	nippyHeaderSize  = 4
	nippyFlagsPlain  = 0  // no compression, no encryption
	nippyFlagsLZ4    = 8  // LZ4, no encryption
	nippyFlagsSnappy = 1  // refused, as are the flags of encryption
	nippyFlagsLZMA2  = 11 // refused
	nippyFlagsOther  = 5  // another compressor, refused
	nippyLZ4SizeSize = 4  // the uncompressed size before an LZ4 block

	// nippyMaxUncompressed bounds the size an LZ4 body may claim.
	nippyMaxUncompressed = DefaultMaxBodySize
	// nippyLZ4MaxRatio bounds how many bytes one byte of an LZ4 block can
	// stand for (a match length byte adds 255), with some slack.
	nippyLZ4MaxRatio = 256
	// nippyMaxBigSize bounds the magnitude of a BigDecimal or a ratio,
	// decoded as a float64.
	nippyMaxBigSize = 1 << 10
)

var errNippyShort = fmt.Errorf("transport: nippy: %w", io.ErrUnexpectedEOF)

// errNippyHeader is wrapped by the error of a body whose header asks for
// compression or encryption this package does not read.
var errNippyHeader = errors.New("transport: nippy: unsupported header")

func (nippyCodec) Unmarshal(data []byte, v any) error {
	payload, _, err := nippyPayload(data, -1)
	if err != nil {
		return err
	}
	if _, err := nippyCheck(payload); err != nil {
		return err
	}
	if ok, err := decodeInto("transport: nippy", v,
		func() (any, error) { x, _, err := nippyValue(payload, 0); return x, err },
		func() ([]any, error) { return nippyArgs(payload) }); ok {
		return err
	}
	switch v := v.(type) {
	case *int64, *string, *float64, *bool:
		x, _, err := nippyValue(payload, 0)
		if err != nil {
			return err
		}
		if !setScalar(v, x) {
			return fmt.Errorf("transport: nippy: cannot decode %T into %T", x, v)
		}
		return nil
	}
	x, _, err := nippyValue(payload, 0)
	if err != nil {
		return err
	}
	return unmarshalViaJSON(x, v)
}

func (nippyCodec) decodeArgs(data []byte, budget int) ([]any, error) {
	payload, cost, err := nippyPayload(data, budget)
	if err != nil {
		return nil, err
	}
	c, err := nippyCheck(payload)
	if err != nil {
		return nil, err
	}
	if cost += c; budget >= 0 && cost > budget {
		return nil, tooComplex(cost, budget)
	}
	return nippyArgs(payload)
}

// nippyEstimate returns the estimate of what decoding data allocates: the
// uncompressed body of an LZ4 body, and its value.
func nippyEstimate(data []byte) (int, error) {
	payload, cost, err := nippyPayload(data, -1)
	if err != nil {
		return 0, err
	}
	c, err := nippyCheck(payload)
	return cost + c, err
}

// nippyPayload returns the frozen value of data: data itself if it has no
// header, what follows the header, or that uncompressed when the header
// says LZ4. It returns the cost of the uncompressed copy, and refuses one
// that would take more than budget (when budget >= 0) before allocating it.
//
// A headerless body can't start with "NPY" in practice: 'N' is the id of a
// deprecated symbol whose size, an int starting "PY", would be over 1 GiB.
func nippyPayload(data []byte, budget int) ([]byte, int, error) {
	if len(data) < nippyHeaderSize || string(data[:3]) != "NPY" {
		return data, 0, nil
	}
	switch flags := data[3]; flags {
	case nippyFlagsPlain:
		return data[nippyHeaderSize:], 0, nil
	case nippyFlagsLZ4:
	case nippyFlagsSnappy:
		return nil, 0, fmt.Errorf("%w: compressed with snappy", errNippyHeader)
	case nippyFlagsLZMA2:
		return nil, 0, fmt.Errorf("%w: compressed with LZMA2", errNippyHeader)
	case nippyFlagsOther:
		return nil, 0, fmt.Errorf("%w: compressed with an unknown compressor", errNippyHeader)
	case 2, 3, 4, 6, 7, 9, 10, 12, 13, 14, 15, 16, 17, 18, 19: // AES, or an unknown encryptor
		return nil, 0, fmt.Errorf("%w: encrypted", errNippyHeader)
	default:
		return nil, 0, fmt.Errorf("%w: unknown flags %d", errNippyHeader, flags)
	}
	block := data[nippyHeaderSize:]
	if len(block) < nippyLZ4SizeSize {
		return nil, 0, errNippyShort
	}
	n := int64(int32(binary.BigEndian.Uint32(block)))
	block = block[nippyLZ4SizeSize:]
	switch {
	case n <= 0:
		return nil, 0, fmt.Errorf("transport: nippy: LZ4 body of %d bytes uncompressed", n)
	case n > nippyMaxUncompressed:
		return nil, 0, fmt.Errorf("transport: nippy: LZ4 body of %d bytes uncompressed, more than the %d allowed", n, nippyMaxUncompressed)
	case n > nippyLZ4MaxRatio*int64(len(block))+16:
		return nil, 0, fmt.Errorf("transport: nippy: LZ4 body claims %d bytes uncompressed from %d: %w", n, len(block), io.ErrUnexpectedEOF)
	}
	cost := roundAlloc(int(n))
	if budget >= 0 && cost > budget {
		return nil, 0, tooComplex(cost, budget)
	}
	out := make([]byte, n)
	got, err := lz4.UncompressBlock(block, out)
	if err != nil {
		return nil, 0, fmt.Errorf("transport: nippy: LZ4: %w", err)
	}
	if got != len(out) {
		return nil, 0, fmt.Errorf("transport: nippy: LZ4 body of %d bytes uncompressed, %d claimed", got, n)
	}
	return out, cost, nil
}

// nippyArgs decodes data, checked by nippyCheck, into a []any: the
// arguments of a call, a vector, list or other sequence, or nil.
func nippyArgs(data []byte) ([]any, error) {
	x, _, err := nippyValue(data, 0)
	if err != nil {
		return nil, err
	}
	return asArgs("transport: nippy", x)
}

// nippyExceptionExtra is the most a StackTraceElement's string adds to its
// three strings: ".", "(", ":", the line and ")", or "(Native Method)".
const nippyExceptionExtra = 24

// nippyValue decodes the value data starts with, checked by nippyCheck,
// into the types [Codec] lists, and returns it with its size.
func nippyValue(data []byte, depth int) (any, int, error) {
	c := data[0]
	p := data[1:]
	switch c {
	case nippyNil:
		return nil, 1, nil
	case nippyTrue:
		return true, 1, nil
	case nippyFalse:
		return false, 1, nil
	case nippyLongZero:
		return int64(0), 1, nil
	case nippyByte, nippyLongSm:
		return int64(int8(p[0])), 2, nil
	case nippyShort, nippyLongMd:
		return int64(int16(binary.BigEndian.Uint16(p))), 3, nil
	case nippyInteger, nippyLongLg:
		return int64(int32(binary.BigEndian.Uint32(p))), 5, nil
	case nippyLongXl:
		return int64(binary.BigEndian.Uint64(p)), 9, nil
	case nippyDoubleZero:
		return float64(0), 1, nil
	case nippyFloat:
		return float64(math.Float32frombits(binary.BigEndian.Uint32(p))), 5, nil
	case nippyDouble:
		return math.Float64frombits(binary.BigEndian.Uint64(p)), 9, nil
	case nippyStr0:
		return "", 1, nil
	case nippyChar:
		r := rune(binary.BigEndian.Uint16(p))
		if !utf8.ValidRune(r) {
			r = utf8.RuneError // a lone surrogate
		}
		return string(r), 3, nil
	case nippyDate:
		ms := int64(binary.BigEndian.Uint64(p))
		return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z"), 9, nil
	case nippyUUID:
		return nippyUUIDString(p[:16]), 17, nil
	case nippyBytes0:
		return []byte{}, 1, nil
	case nippyVec0, nippySet0, nippyList0, nippySeq0:
		return []any{}, 1, nil
	case nippyMap0:
		return map[string]any{}, 1, nil
	case nippyVec2, nippyVec3:
		return nippyArray(data, 1, int(c-nippyVec2)+2, depth)
	case nippyMeta:
		_, n, err := nippyValue(p, depth+1)
		if err != nil {
			return nil, 0, err
		}
		v, m, err := nippyValue(p[n:], depth+1)
		return v, 1 + n + m, err
	case nippyBigInt, nippyBigInteger:
		n := int(binary.BigEndian.Uint32(p))
		v, err := nippyBigIntegerValue(p[4 : 4+n])
		return v, 5 + n, err
	case nippyBigDec, nippyRatio:
		return nippyBigFloat(data)
	case nippyPrefixedCustom:
		return nippyException(data)
	case nippySerializableSm, nippySerializableMd:
		return nippySerializable(data)
	}
	size := nippyCountSize(c)
	n := nippyCount(p[:size])
	hdr := 1 + size
	switch c {
	case nippyBytesSm, nippyBytesMd, nippyBytesLg:
		return bytes.Clone(data[hdr : hdr+n]), hdr + n, nil
	case nippyMapSm, nippyMapMd, nippyMapLg, nippySortedMap:
		return nippyMap(data, hdr, n, depth)
	}
	if nippyIsString(c) {
		return string(data[hdr : hdr+n]), hdr + n, nil
	}
	return nippyArray(data, hdr, n, depth)
}

// nippyArray decodes the n values of a collection whose header is hdr
// bytes.
func nippyArray(data []byte, hdr, n, depth int) ([]any, int, error) {
	a := make([]any, n)
	pos := hdr
	for i := range a {
		v, k, err := nippyValue(data[pos:], depth+1)
		if err != nil {
			return nil, 0, err
		}
		a[i] = v
		pos += k
	}
	return a, pos, nil
}

// nippyMap decodes the n pairs of a map whose header is hdr bytes: a
// map[string]any if all its keys decode to strings, otherwise a
// map[any]any.
func nippyMap(data []byte, hdr, n, depth int) (any, int, error) {
	m := make(map[string]any, n)
	var mm map[any]any
	pos := hdr
	for range n {
		k, size, err := nippyValue(data[pos:], depth+1)
		if err != nil {
			return nil, 0, err
		}
		pos += size
		v, size, err := nippyValue(data[pos:], depth+1)
		if err != nil {
			return nil, 0, err
		}
		pos += size
		if s, ok := k.(string); ok && mm == nil {
			if _, dup := m[s]; dup {
				return nil, 0, nippyDuplicate(k)
			}
			m[s] = v
			continue
		}
		switch k.(type) {
		case []any, map[string]any, map[any]any, []byte:
			return nil, 0, fmt.Errorf("transport: nippy: map key of type %T", k)
		}
		if mm == nil {
			mm = make(map[any]any, n)
			for s, x := range m {
				mm[s] = x
			}
		}
		if _, dup := mm[k]; dup {
			return nil, 0, nippyDuplicate(k)
		}
		mm[k] = v
	}
	if mm != nil {
		return mm, pos, nil
	}
	return m, pos, nil
}

func nippyDuplicate(k any) error {
	return fmt.Errorf("transport: nippy: two map keys decode to %#v", k)
}

// nippyBigIntegerValue converts the two's complement bytes of a BigInteger to
// an int64, or a uint64 above math.MaxInt64.
func nippyBigIntegerValue(b []byte) (any, error) {
	if len(b) == 0 {
		return nil, errors.New("transport: nippy: a BigInteger of no bytes")
	}
	neg := b[0]&0x80 != 0
	pad := byte(0)
	if neg {
		pad = 0xff
	}
	for len(b) > 1 && b[0] == pad && b[1]&0x80 == pad&0x80 {
		b = b[1:]
	}
	if len(b) > 9 || len(b) == 9 && (neg || b[0] != 0) {
		return nil, errNippyRange
	}
	var u uint64
	if neg {
		u = math.MaxUint64 // sign-extended
	}
	for _, x := range b {
		u = u<<8 | uint64(x)
	}
	if !neg && u > math.MaxInt64 {
		return u, nil
	}
	return int64(u), nil
}

var errNippyRange = errors.New("transport: nippy: integer out of range: it fits neither int64 nor uint64")

// nippyBigFloat decodes a BigDecimal or a ratio as a float64.
func nippyBigFloat(data []byte) (any, int, error) {
	size := 0
	big1 := func(pos int) (*big.Int, int) {
		n := int(binary.BigEndian.Uint32(data[pos:]))
		size = n
		b := data[pos+4 : pos+4+n]
		x := new(big.Int).SetBytes(b)
		if len(b) > 0 && b[0]&0x80 != 0 { // two's complement
			x.Sub(x, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
		}
		return x, pos + 4 + n
	}
	x, pos := big1(1)
	if data[0] == nippyRatio {
		d, end := big1(pos)
		if d.Sign() == 0 {
			return nil, 0, errors.New("transport: nippy: a ratio with a zero denominator")
		}
		f, _ := new(big.Rat).SetFrac(x, d).Float64()
		if math.IsInf(f, 0) {
			return nil, 0, errors.New("transport: nippy: a ratio beyond float64")
		}
		return f, end, nil
	}
	scale := int64(int32(binary.BigEndian.Uint32(data[pos:])))
	text := x.Append(make([]byte, 0, 3*size+16), 10)
	text = strconv.AppendInt(append(text, 'e'), -scale, 10)
	f, err := strconv.ParseFloat(string(text), 64)
	if err != nil {
		return nil, 0, errors.New("transport: nippy: a BigDecimal beyond float64")
	}
	return f, pos + 4, nil
}

// nippyUUIDString is the canonical form of the 16 bytes of a UUID.
func nippyUUIDString(b []byte) string {
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// nippyException decodes slacker's exception type, a StackTraceElement,
// into the string Java prints for it: class.method(file:line), or
// class.method(file) for a negative line, or class.method(Native Method)
// for line -2.
func nippyException(data []byte) (any, int, error) {
	pos := 3 // the id and the hash
	var parts [3][]byte
	size := 0
	for i := range parts {
		n := int(binary.BigEndian.Uint16(data[pos:]))
		parts[i] = data[pos+2 : pos+2+n]
		size += n
		pos += 2 + n
	}
	line := int32(binary.BigEndian.Uint32(data[pos:]))
	out := make([]byte, 0, size+nippyExceptionExtra)
	var err error
	file := 0 // where the file's name starts
	for i, sep := range []byte{'.', '(', 0} {
		file = len(out)
		if out, err = appendModifiedUTF8(out, parts[i]); err != nil {
			return nil, 0, err
		}
		if sep != 0 {
			out = append(out, sep)
		}
	}
	switch {
	case line == -2:
		out = append(out[:file], "Native Method"...)
	case line >= 0:
		out = strconv.AppendInt(append(out, ':'), int64(line), 10)
	}
	return string(append(out, ')')), pos + 4, nil
}

// appendModifiedUTF8 appends to dst, as UTF-8, b in the modified UTF-8 of
// Java's DataInput.readUTF: characters of one, two or three bytes, the
// UTF-16 surrogates of a character beyond the BMP encoded one by one. A
// lone surrogate becomes U+FFFD; the result is never longer than b.
func appendModifiedUTF8(dst, b []byte) ([]byte, error) {
	var high rune // a high surrogate waiting for its low one
	for i := 0; i < len(b); {
		var r rune
		switch c := b[i]; {
		case c < 0x80:
			r, i = rune(c), i+1
		case c&0xe0 == 0xc0 && i+1 < len(b) && b[i+1]&0xc0 == 0x80:
			r, i = rune(c&0x1f)<<6|rune(b[i+1]&0x3f), i+2
		case c&0xf0 == 0xe0 && i+2 < len(b) && b[i+1]&0xc0 == 0x80 && b[i+2]&0xc0 == 0x80:
			r, i = rune(c&0x0f)<<12|rune(b[i+1]&0x3f)<<6|rune(b[i+2]&0x3f), i+3
		default:
			return dst, fmt.Errorf("transport: nippy: malformed modified UTF-8 at byte %d of a string", i)
		}
		if high != 0 {
			if 0xdc00 <= r && r < 0xe000 {
				dst = utf8.AppendRune(dst, 0x10000+(high-0xd800)<<10+(r-0xdc00))
				high = 0
				continue
			}
			dst = utf8.AppendRune(dst, utf8.RuneError)
			high = 0
		}
		if 0xd800 <= r && r < 0xdc00 {
			high = r
			continue
		}
		dst = utf8.AppendRune(dst, r) // a lone low surrogate is RuneError
	}
	if high != 0 {
		dst = utf8.AppendRune(dst, utf8.RuneError)
	}
	return dst, nil
}

// nippySerializable decodes a Java object nippy froze with Java's
// serialization, which this package does not read, as nippy thaws one of a
// class it does not allow: {:nippy/unthawable {:type :serializable,
// :cause :quarantined, :class-name "..."}}, without the object's bytes.
func nippySerializable(data []byte) (any, int, error) {
	size := int(data[0]-nippySerializableSm) + 1
	n := nippyCount(data[1 : 1+size])
	name := string(data[1+size : 1+size+n])
	b := data[1+size+n:] // its bytes, skipped
	m := 1
	if c := nippyCountSize(b[0]); c > 0 {
		m += c + nippyCount(b[1:1+c])
	}
	v := map[string]any{"nippy/unthawable": map[string]any{
		"type": "serializable", "cause": "quarantined", "class-name": name,
	}}
	return v, 1 + size + n + m, nil
}
