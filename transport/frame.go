package transport

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// Largest values the wire's length prefixes and counts can carry. PROTOCOL.md
// gives every field's prefix; these are what each prefix can say.
const (
	MaxShortField     = math.MaxUint16 // a u16 length prefix: names, strings, extension values, inspect data
	MaxLongField      = math.MaxUint32 // a u32 length prefix: request and response bodies
	MaxExtensionCount = math.MaxUint8  // a u8 count: the extensions of one v6 packet
)

// Sizes of the fixed fields and prefixes of PROTOCOL.md's tables, in bytes.
const (
	sizeU8  = 1
	sizeU16 = 2
	sizeI32 = 4
	sizeU32 = 4

	// Header offsets.
	offVersion = 0
	offTID     = offVersion + sizeU8
	offType    = offTID + sizeI32

	// decodeChunk is how much of a long field the decoder allocates before
	// the bytes arrive; past it, the buffer doubles as data comes in, so a
	// frame that claims a large body but never sends it costs little.
	decodeChunk = 64 << 10

	// decoderBufferSize is the size of the bufio.Reader NewDecoder wraps
	// around a reader that is not one already.
	decoderBufferSize = 64 << 10
)

// header is the 6 bytes every packet starts with.
type header [HeaderSize]byte

func (h *header) version() Version { return Version(h[offVersion]) }
func (h *header) tid() int32       { return int32(binary.BigEndian.Uint32(h[offTID:])) }
func (h *header) packetType() PacketType {
	return PacketType(h[offType])
}

// Has reports whether version v knows packet type t: types 0 to 9 exist in
// both versions, the hellos (10 and 11) only in version 6. It is false for
// every type of an unknown version.
func (v Version) Has(t PacketType) bool {
	switch v {
	case V5:
		return t <= TypeInterrupt
	case V6:
		return t <= TypeServerHello
	}
	return false
}

// AppendPacket appends the encoding of p to dst and returns the extended
// slice. It allocates only to grow dst.
//
// Fields p's type does not carry are ignored, and so are extensions in a
// version 5 packet, which has no place for them. The error wraps
// ErrUnsupportedVersion, ErrUnknownPacketType (a type p's version lacks),
// ErrFieldTooLarge (a field longer than its length prefix can say) or
// ErrTooManyExtensions; dst is then returned unchanged.
func AppendPacket(dst []byte, p *Packet) ([]byte, error) {
	if err := checkPacket(p); err != nil {
		return dst, err
	}
	dst = append(dst, byte(p.Version))
	dst = binary.BigEndian.AppendUint32(dst, uint32(p.TID))
	dst = append(dst, byte(p.Type))
	switch p.Type {
	case TypeRequest:
		dst = append(dst, byte(p.ContentType))
		dst = appendShort(dst, p.Name)
		dst = appendLong(dst, p.Body)
		dst = appendExtensions(dst, p)
	case TypeResponse:
		dst = append(dst, byte(p.ContentType), byte(p.Code))
		dst = appendLong(dst, p.Body)
		dst = appendExtensions(dst, p)
	case TypePing, TypePong:
	case TypeError:
		dst = append(dst, byte(p.Code))
	case TypeAuthReq:
		dst = appendShort(dst, p.Token)
	case TypeAuthAck:
		dst = append(dst, p.AuthResult)
	case TypeInspectReq:
		dst = append(dst, byte(p.Command))
		dst = appendShort(dst, p.Body)
	case TypeInspectAck:
		dst = appendShort(dst, p.Body)
	case TypeInterrupt:
		dst = binary.BigEndian.AppendUint32(dst, uint32(p.TargetTID))
	case TypeClientHello:
		dst = appendShort(dst, p.ClientVersion)
		dst = appendShort(dst, p.ClientName)
	case TypeServerHello:
		dst = appendShort(dst, p.ServerVersion)
	}
	return dst, nil
}

// checkPacket reports why p cannot be encoded, if it cannot.
func checkPacket(p *Packet) error {
	if p.Version != V5 && p.Version != V6 {
		return fmt.Errorf("%w %d", ErrUnsupportedVersion, uint8(p.Version))
	}
	if !p.Version.Has(p.Type) {
		return fmt.Errorf("%w %d in version %d", ErrUnknownPacketType, uint8(p.Type), uint8(p.Version))
	}
	switch p.Type {
	case TypeRequest, TypeResponse:
		if p.Type == TypeRequest && len(p.Name) > MaxShortField {
			return encodeTooLarge("name", len(p.Name), MaxShortField)
		}
		if uint64(len(p.Body)) > MaxLongField {
			return encodeTooLarge("body", len(p.Body), MaxLongField)
		}
		if p.Version == V5 {
			return nil
		}
		if len(p.Extensions) > MaxExtensionCount {
			return fmt.Errorf("%w: %d, at most %d fit", ErrTooManyExtensions, len(p.Extensions), MaxExtensionCount)
		}
		for i := range p.Extensions {
			if n := len(p.Extensions[i].Value); n > MaxShortField {
				return encodeTooLarge("extension value", n, MaxShortField)
			}
		}
	case TypeAuthReq:
		return checkShort("token", p.Token)
	case TypeInspectReq:
		return checkShort("inspect argument", p.Body)
	case TypeInspectAck:
		return checkShort("inspect data", p.Body)
	case TypeClientHello:
		if err := checkShort("client version", p.ClientVersion); err != nil {
			return err
		}
		return checkShort("client name", p.ClientName)
	case TypeServerHello:
		return checkShort("server version", p.ServerVersion)
	}
	return nil
}

func checkShort[S string | []byte](field string, s S) error {
	if len(s) > MaxShortField {
		return encodeTooLarge(field, len(s), MaxShortField)
	}
	return nil
}

func encodeTooLarge(field string, n int, limit uint64) error {
	return fmt.Errorf("%w: %s of %d bytes, at most %d fit", ErrFieldTooLarge, field, n, limit)
}

// appendShort appends a u16 length prefix and s.
func appendShort[S string | []byte](dst []byte, s S) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

// appendLong appends a u32 length prefix and b.
func appendLong(dst, b []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(b)))
	return append(dst, b...)
}

// appendExtensions appends a v6 packet's extension count and extensions.
func appendExtensions(dst []byte, p *Packet) []byte {
	if p.Version == V5 {
		return dst
	}
	dst = append(dst, byte(len(p.Extensions)))
	for i := range p.Extensions {
		dst = binary.BigEndian.AppendUint16(dst, uint16(p.Extensions[i].ID))
		dst = appendShort(dst, p.Extensions[i].Value)
	}
	return dst
}

// FrameError is the error of a frame that could not be decoded. Framing is
// lost after it: the stream cannot be read further.
type FrameError struct {
	// HeaderRead is true once the frame's version, tid and type were read,
	// so that the peer can be told which tid failed.
	HeaderRead bool
	// Version is the frame's first byte, if it was read; it is set even
	// when Err wraps ErrUnsupportedVersion.
	Version Version
	TID     int32      // valid if HeaderRead
	Type    PacketType // valid if HeaderRead
	// Err wraps ErrUnsupportedVersion, ErrUnknownPacketType,
	// ErrFieldTooLarge, ErrTooManyExtensions or the reader's error:
	// io.ErrUnexpectedEOF for a stream that ends inside a frame.
	Err error
}

func (e *FrameError) Error() string {
	if !e.HeaderRead {
		return e.Err.Error()
	}
	return fmt.Sprintf("%v (v%d %v, tid %d)", e.Err, uint8(e.Version), e.Type, e.TID)
}

func (e *FrameError) Unwrap() error { return e.Err }

// A Decoder reads packets from a stream. It does not care how the stream's
// reads are split. It is not safe for concurrent use.
type Decoder struct {
	r       byteReader
	lim     Limits
	hdr     header
	num     [sizeU32]byte     // fixed-size fields after the header
	scratch []byte            // strings are read here before they are copied out
	names   map[string]string // the names read, so that each is allocated once

	// With reuse, short bodies and a packet's one short extension are
	// read into these, good until the next Decode.
	reuse bool
	body  []byte
	one   oneExtension
}

// MaxReusedBody is the longest request or response body a decoder that
// reuses its buffers reads into its own: a longer one is allocated, so
// that a large body is not kept past its packet.
const MaxReusedBody = 4 << 10

// ReuseBuffers sets whether d reads request and response bodies of up to
// MaxReusedBody bytes and a packet's
// one extension of up to 16 bytes into buffers of its own, overwritten by
// the next Decode, instead of fresh ones: for a reader that is done with
// a packet's bytes before it decodes the next, that saves two
// allocations a call. Strings are allocated either way, and longer
// fields are fresh.
func (d *Decoder) ReuseBuffers(on bool) { d.reuse = on }

// A Decoder keeps at most maxNames names of at most maxNameKept bytes:
// others are allocated anew each time.
const (
	maxNames    = 64
	maxNameKept = 128
)

// byteReader is what a Decoder reads from.
type byteReader interface {
	io.Reader
	io.ByteReader
}

// NewDecoder returns a decoder reading from r, which it uses directly if it
// is buffered (an io.ByteReader, such as a *bufio.Reader) and otherwise
// wraps in a 64 KiB bufio.Reader. Length fields are
// checked against lim, with [Limits]' defaults for its zero fields.
func NewDecoder(r io.Reader, lim Limits) *Decoder {
	br, ok := r.(byteReader)
	if !ok {
		br = bufio.NewReaderSize(r, decoderBufferSize)
	}
	return &Decoder{r: br, lim: lim.withDefaults()}
}

// Decode reads the next packet into p, overwriting all of p. The packet's
// body, strings and extension values are freshly allocated, so p can be
// handed to another goroutine, unless [Decoder.ReuseBuffers] says
// otherwise.
//
// At a clean end of stream between frames Decode returns io.EOF itself.
// Any other error is a *FrameError, after which the stream cannot be read
// further; p then holds only the header fields that were read.
func (d *Decoder) Decode(p *Packet) error {
	*p = Packet{}
	b, err := d.r.ReadByte()
	if err != nil {
		if err == io.EOF {
			return io.EOF
		}
		return &FrameError{Err: fmt.Errorf("transport: reading version: %w", err)}
	}
	v := Version(b)
	if v != V5 && v != V6 {
		return &FrameError{Version: v, Err: fmt.Errorf("%w %d", ErrUnsupportedVersion, b)}
	}
	d.hdr[offVersion] = b
	if err := d.readFull(d.hdr[offTID:], "header"); err != nil {
		return &FrameError{Version: v, Err: err}
	}
	p.Version, p.TID, p.Type = d.hdr.version(), d.hdr.tid(), d.hdr.packetType()
	if !v.Has(p.Type) {
		err = fmt.Errorf("%w %d in version %d", ErrUnknownPacketType, uint8(p.Type), b)
	} else {
		err = d.decodeFields(p)
	}
	if err != nil {
		*p = Packet{Version: p.Version, TID: p.TID, Type: p.Type}
		return &FrameError{HeaderRead: true, Version: p.Version, TID: p.TID, Type: p.Type, Err: err}
	}
	return nil
}

// decodeFields reads the fields that follow the header, in wire order.
func (d *Decoder) decodeFields(p *Packet) error {
	var err error
	switch p.Type {
	case TypeRequest:
		var ct uint8
		if ct, err = d.readU8("content type"); err != nil {
			return err
		}
		p.ContentType = ContentType(ct)
		if p.Name, err = d.readName(); err != nil {
			return err
		}
		if p.Body, err = d.readBody(); err != nil {
			return err
		}
		return d.readExtensions(p)
	case TypeResponse:
		var ct, code uint8
		if ct, err = d.readU8("content type"); err != nil {
			return err
		}
		if code, err = d.readU8("result code"); err != nil {
			return err
		}
		p.ContentType, p.Code = ContentType(ct), Code(code)
		if p.Body, err = d.readBody(); err != nil {
			return err
		}
		return d.readExtensions(p)
	case TypePing, TypePong:
		return nil
	case TypeError:
		var code uint8
		code, err = d.readU8("result code")
		p.Code = Code(code)
		return err
	case TypeAuthReq:
		p.Token, err = d.readString("token", d.lim.MaxFieldSize)
		return err
	case TypeAuthAck:
		p.AuthResult, err = d.readU8("auth result")
		return err
	case TypeInspectReq:
		var cmd uint8
		if cmd, err = d.readU8("inspect command"); err != nil {
			return err
		}
		p.Command = InspectCommand(cmd)
		p.Body, err = d.readShortBytes("inspect argument", d.lim.MaxFieldSize)
		return err
	case TypeInspectAck:
		p.Body, err = d.readShortBytes("inspect data", d.lim.MaxFieldSize)
		return err
	case TypeInterrupt:
		var tid uint32
		tid, err = d.readU32("target tid", "")
		p.TargetTID = int32(tid)
		return err
	case TypeClientHello:
		if p.ClientVersion, err = d.readString("client version", d.lim.MaxFieldSize); err != nil {
			return err
		}
		p.ClientName, err = d.readString("client name", d.lim.MaxFieldSize)
		return err
	case TypeServerHello:
		p.ServerVersion, err = d.readString("server version", d.lim.MaxFieldSize)
		return err
	}
	return nil
}

// readExtensions reads a v6 packet's extension count and extensions.
func (d *Decoder) readExtensions(p *Packet) error {
	if p.Version == V5 {
		return nil
	}
	n, err := d.readU8("extension count")
	if err != nil {
		return err
	}
	if int(n) > d.lim.MaxExtensions {
		return fmt.Errorf("%w: %d, limit %d", ErrTooManyExtensions, n, d.lim.MaxExtensions)
	}
	if n == 0 {
		return nil
	}
	if n == 1 {
		// The usual one, a deadline: the extension and a short value
		// in one allocation.
		one := &d.one
		if !d.reuse {
			one = new(oneExtension)
		}
		if err = d.readOneExtension(one); err != nil {
			return err
		}
		p.Extensions = one.ext[:]
		return nil
	}
	p.Extensions = make([]Extension, n)
	for i := range p.Extensions {
		id, err := d.readU16("extension id", "")
		if err != nil {
			return err
		}
		p.Extensions[i].ID = int16(id)
		if p.Extensions[i].Value, err = d.readShortBytes("extension value", d.lim.MaxFieldSize); err != nil {
			return err
		}
	}
	return nil
}

// oneExtension is the only extension of a packet, with room for a short
// value.
type oneExtension struct {
	ext [1]Extension
	buf [16]byte
}

// readOneExtension reads a packet's only extension into one.
func (d *Decoder) readOneExtension(one *oneExtension) error {
	id, err := d.readU16("extension id", "")
	if err != nil {
		return err
	}
	b, err := d.readScratch("extension value", d.lim.MaxFieldSize)
	if err != nil {
		return err
	}
	*one = oneExtension{ext: [1]Extension{{ID: int16(id)}}}
	one.set(b)
	return nil
}

// set makes b, copied, the value of one's extension: into one's own room
// when it fits.
func (one *oneExtension) set(b []byte) {
	switch {
	case b == nil:
	case len(b) <= len(one.buf):
		one.ext[0].Value = one.buf[:len(b):len(b)]
		copy(one.ext[0].Value, b)
	default:
		one.ext[0].Value = bytes.Clone(b)
	}
}

// readFull fills b, reporting a stream that ends first as
// io.ErrUnexpectedEOF: every caller is inside a frame.
func (d *Decoder) readFull(b []byte, field string) error {
	if _, err := io.ReadFull(d.r, b); err != nil {
		return readError(field, "", err)
	}
	return nil
}

// readError is the error of reading field (and suffix), which the stream
// did not hold.
func readError(field, suffix string, err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("transport: reading %s%s: %w", field, suffix, err)
}

func (d *Decoder) readU8(field string) (uint8, error) {
	b, err := d.r.ReadByte()
	if err != nil {
		return 0, readError(field, "", err)
	}
	return b, nil
}

// readU16 reads a u16; field and suffix name it in errors.
func (d *Decoder) readU16(field, suffix string) (uint16, error) {
	if _, err := io.ReadFull(d.r, d.num[:sizeU16]); err != nil {
		return 0, readError(field, suffix, err)
	}
	return binary.BigEndian.Uint16(d.num[:sizeU16]), nil
}

// readU32 reads a u32; field and suffix name it in errors.
func (d *Decoder) readU32(field, suffix string) (uint32, error) {
	if _, err := io.ReadFull(d.r, d.num[:sizeU32]); err != nil {
		return 0, readError(field, suffix, err)
	}
	return binary.BigEndian.Uint32(d.num[:sizeU32]), nil
}

// readName reads a request's function name. The few names a connection
// calls are kept, and a name read again is the one kept.
func (d *Decoder) readName() (string, error) {
	b, err := d.readScratch("name", d.lim.MaxNameSize)
	if err != nil {
		return "", err
	}
	if s, ok := d.names[string(b)]; ok {
		return s, nil
	}
	s := string(b)
	if d.names == nil {
		d.names = make(map[string]string)
	}
	if len(d.names) < maxNames && len(s) <= maxNameKept {
		d.names[s] = s
	}
	return s, nil
}

// readString reads a u16-prefixed string of at most limit bytes.
func (d *Decoder) readString(field string, limit int) (string, error) {
	b, err := d.readScratch(field, limit)
	return string(b), err
}

// readScratch reads a u16-prefixed string of at most limit bytes into the
// decoder's scratch space; the bytes are good until the next read.
func (d *Decoder) readScratch(field string, limit int) ([]byte, error) {
	n, err := d.readU16(field, " length")
	if err != nil {
		return nil, err
	}
	if int(n) > limit {
		return nil, decodeTooLarge(field, uint64(n), limit)
	}
	if n == 0 {
		return nil, nil
	}
	if cap(d.scratch) < int(n) {
		d.scratch = make([]byte, max(int(n), 256))
	}
	b := d.scratch[:n]
	if err := d.readFull(b, field); err != nil {
		return nil, err
	}
	return b, nil
}

// readShortBytes reads a u16-prefixed byte block of at most limit bytes.
func (d *Decoder) readShortBytes(field string, limit int) ([]byte, error) {
	n, err := d.readU16(field, " length")
	if err != nil {
		return nil, err
	}
	return d.readBlock(field, uint64(n), limit)
}

// readBody reads a request's or response's body: into the decoder's own
// buffer when it reuses its buffers and the body is short.
func (d *Decoder) readBody() ([]byte, error) {
	n, err := d.readU32("body", " length")
	if err != nil {
		return nil, err
	}
	if !d.reuse || n == 0 || n > MaxReusedBody || int(n) > d.lim.MaxBodySize {
		return d.readBlock("body", uint64(n), d.lim.MaxBodySize)
	}
	if cap(d.body) < int(n) {
		// Grown as bodies need, so that a connection of short calls
		// keeps a short buffer.
		d.body = make([]byte, min(MaxReusedBody, max(int(n), 2*cap(d.body), 64)))
	}
	b := d.body[:n:n]
	if err := d.readFull(b, "body"); err != nil {
		return nil, err
	}
	return b, nil
}

// readBlock reads n bytes into a new slice, nil if n is 0. Up to
// decodeChunk bytes are allocated at once; a longer block grows as its
// bytes arrive.
func (d *Decoder) readBlock(field string, n uint64, limit int) ([]byte, error) {
	if n > uint64(limit) {
		return nil, decodeTooLarge(field, n, limit)
	}
	if n == 0 {
		return nil, nil
	}
	size := int(n)
	b := make([]byte, min(size, decodeChunk))
	if err := d.readFull(b, field); err != nil {
		return nil, err
	}
	for len(b) < size {
		next := make([]byte, min(2*len(b), size))
		copy(next, b)
		if err := d.readFull(next[len(b):], field); err != nil {
			return nil, err
		}
		b = next
	}
	return b, nil
}

func decodeTooLarge(field string, n uint64, limit int) error {
	return fmt.Errorf("%w: %s of %d bytes, limit %d", ErrFieldTooLarge, field, n, limit)
}
