package transport

import (
	"errors"
	"fmt"
)

// serves reports whether the server's handler may serve name: false only
// when the handler is a Finder that does not.
func (s *Server) serves(name string) bool {
	f, ok := s.h.(Finder)
	return !ok || f.Has(name)
}

// refuseArgs answers a request whose arguments did not decode: exception
// "arguments too large to decode: ..." for a body over its budget, and
// invalid-packet for a body that is not an argument array.
func (c *conn) refuseArgs(p *Packet, codec Codec, err error) {
	if !errors.Is(err, ErrBodyTooComplex) {
		c.reject(p, fmt.Errorf("arguments: %w", err))
		return
	}
	c.log.Debug("arguments refused", "tid", p.TID, "name", p.Name, "size", len(p.Body), "err", err)
	body, _ := codec.Marshal(err.Error())
	res := Packet{Version: p.Version, TID: p.TID, Type: TypeResponse, ContentType: codec.ContentType(), Code: CodeException, Body: body}
	if p.Version == V6 {
		res.Extensions = p.Extensions
	}
	c.waitForRoom()
	c.queue(&res, true, false)
}
