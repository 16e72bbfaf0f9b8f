package transport

import (
	"fmt"
	"time"
)

// handleInspect answers an inspect request. Its argument and answer are
// EDN, as slacker's clients expect; see PROTOCOL.md.
func (c *conn) handleInspect(p *Packet) {
	var arg any
	if len(p.Body) > 0 {
		var err error
		if arg, err = ParseEDN(p.Body); err != nil {
			c.reject(p, err)
			return
		}
	}
	var answer any
	switch p.Command {
	case InspectFunctions:
		prefix, ok := arg.(string)
		if !ok && arg != nil {
			c.reject(p, fmt.Errorf("inspect functions: argument %T is not a string", arg))
			return
		}
		answer = c.srv.h.Functions(prefix)
	case InspectMeta:
		name, ok := arg.(string)
		if !ok {
			c.reject(p, fmt.Errorf("inspect meta: argument %T is not a string", arg))
			return
		}
		if m, found := c.srv.h.Meta(name); found {
			answer = MetaEDN(m)
		}
	case InspectClients:
		answer = c.srv.clientsEDN()
	default:
		c.reject(p, fmt.Errorf("unknown inspect command %d", p.Command))
		return
	}
	data, err := c.inspectData(answer)
	if err != nil {
		c.log.Error("cannot encode inspect answer", "err", err)
		c.sendError(p.Version, p.TID, CodeInvalidPacket)
		return
	}
	c.send(&Packet{Version: p.Version, TID: p.TID, Type: TypeInspectAck, Body: data})
}

// inspectData encodes an inspect answer. An inspect-ack holds at most
// MaxFieldSize bytes: a function list that doesn't fit is cut to the names
// that do, and the client can ask again with a longer prefix; a client
// list, to the clients that do.
func (c *conn) inspectData(answer any) ([]byte, error) {
	data, err := AppendEDN(nil, answer)
	if err != nil || len(data) <= DefaultMaxFieldSize {
		return data, err
	}
	var cut func(n int) any // answer with its list cut to n items
	n := 0
	switch a := answer.(type) {
	case []string:
		n, cut = len(a), func(n int) any { return a[:n] }
	case map[Keyword]any:
		list, ok := a[clientsKey].([]any)
		if !ok {
			break
		}
		n, cut = len(list), func(n int) any {
			b := make(map[Keyword]any, len(a))
			for k, v := range a {
				b[k] = v
			}
			b[clientsKey] = list[:n]
			return b
		}
	}
	if cut == nil {
		return nil, fmt.Errorf("inspect answer of %d bytes, limit %d", len(data), DefaultMaxFieldSize)
	}
	c.log.Warn("inspect answer cut to fit its packet", "items", n, "bytes", len(data), "limit", DefaultMaxFieldSize)
	for n > 0 && len(data) > DefaultMaxFieldSize {
		n = min(n-1, n*DefaultMaxFieldSize/len(data))
		if data, err = AppendEDN(data[:0], cut(n)); err != nil {
			return nil, err
		}
	}
	if len(data) > DefaultMaxFieldSize {
		return nil, fmt.Errorf("inspect answer of %d bytes with its list empty, limit %d", len(data), DefaultMaxFieldSize)
	}
	return data, nil
}

// clientsKey is the list of the clients inspect command's answer.
const clientsKey Keyword = "connected-clients"

// clientsEDN is the answer to the clients inspect command, in the shape
// slacker's servers give it.
func (s *Server) clientsEDN() map[Keyword]any {
	clients := s.Clients()
	list := make([]any, 0, len(clients))
	for _, ci := range clients {
		list = append(list, map[Keyword]any{
			"addr":         ci.Addr,
			"name":         ci.Name,
			"version":      ci.Version,
			"connected-on": ci.ConnectedAt.UTC().Format(time.RFC3339),
		})
	}
	return map[Keyword]any{
		clientsKey:   list,
		"started-on": s.started.UTC().Format(time.RFC3339),
		"version":    s.cfg.Version,
	}
}
