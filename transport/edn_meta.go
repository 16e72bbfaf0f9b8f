package transport

import (
	"fmt"
	"strings"
)

// Keys of an inspect meta answer.
const (
	metaName     Keyword = "name"
	metaDoc      Keyword = "doc"
	metaArglists Keyword = "arglists"
)

// variadicParam is the FuncMeta parameter that marks a variadic function,
// and variadicEDN the name written after '&' in its EDN arglist.
const (
	variadicParam        = "..."
	variadicEDN   Symbol = "more"
)

// MetaEDN is the answer to an inspect meta request, shaped as Clojure prints
// a function's metadata: {:name fn :doc "..." :arglists ([a b])}.
//
// :name is the symbol of the function's name without its namespace, as in
// Clojure; :doc is left out when m.Doc is empty; :arglists holds one vector
// of parameter symbols, where a final "..." becomes & more. A name or
// parameter that is not a valid symbol is written as a string.
func MetaEDN(m FuncMeta) map[Keyword]any {
	name := m.Name
	if i := strings.LastIndexByte(name, '/'); i >= 0 && i < len(name)-1 {
		name = name[i+1:]
	}
	args := make([]any, 0, len(m.Params)+1)
	for i, p := range m.Params {
		if p == variadicParam && i == len(m.Params)-1 {
			args = append(args, Symbol("&"), variadicEDN)
			break
		}
		args = append(args, symbolOrString(p))
	}
	out := map[Keyword]any{
		metaName:     symbolOrString(name),
		metaArglists: List{args},
	}
	if m.Doc != "" {
		out[metaDoc] = m.Doc
	}
	return out
}

func symbolOrString(s string) any {
	if s != "&" && validEDNSymbol(s) {
		return Symbol(s)
	}
	return s
}

// ParseMetaEDN reads an inspect meta answer, parsed by ParseEDN, back into a
// FuncMeta: Name is the text of :name (a symbol or a string), Doc the string
// :doc, and Params the first of :arglists, where & and the name after it
// become a final "...". A parameter that is not a symbol (a destructuring
// form) is kept as its EDN text.
//
// nil or an empty map, which servers answer for a function they don't serve,
// gives an error wrapping ErrNotFound; other malformed answers an error
// wrapping ErrInvalidEDN.
func ParseMetaEDN(v any) (FuncMeta, error) {
	var get func(Keyword) (any, bool)
	var size int
	switch m := v.(type) {
	case nil:
	case map[any]any:
		get = func(k Keyword) (any, bool) { x, ok := m[k]; return x, ok }
		size = len(m)
	case map[Keyword]any:
		get = func(k Keyword) (any, bool) { x, ok := m[k]; return x, ok }
		size = len(m)
	default:
		return FuncMeta{}, fmt.Errorf("%w: meta answer is a %T, not a map", ErrInvalidEDN, v)
	}
	if size == 0 {
		return FuncMeta{}, fmt.Errorf("%w: no metadata", ErrNotFound)
	}
	var m FuncMeta
	if x, ok := get(metaName); ok {
		switch x := x.(type) {
		case Symbol:
			m.Name = string(x)
		case string:
			m.Name = x
		default:
			return FuncMeta{}, fmt.Errorf("%w: :name is a %T", ErrInvalidEDN, x)
		}
	}
	if x, ok := get(metaDoc); ok && x != nil {
		doc, ok := x.(string)
		if !ok {
			return FuncMeta{}, fmt.Errorf("%w: :doc is a %T", ErrInvalidEDN, x)
		}
		m.Doc = doc
	}
	x, _ := get(metaArglists)
	var arglists []any
	switch x := x.(type) {
	case nil:
		return m, nil
	case List:
		arglists = x
	case []any:
		arglists = x
	default:
		return FuncMeta{}, fmt.Errorf("%w: :arglists is a %T", ErrInvalidEDN, x)
	}
	if len(arglists) == 0 {
		return m, nil
	}
	var args []any
	switch a := arglists[0].(type) {
	case []any:
		args = a
	case List:
		args = a
	default:
		return FuncMeta{}, fmt.Errorf("%w: arglist is a %T", ErrInvalidEDN, a)
	}
	for _, a := range args {
		switch a := a.(type) {
		case Symbol:
			if a == "&" {
				return m.withParam(variadicParam), nil
			}
			m.Params = append(m.Params, string(a))
		case string:
			m.Params = append(m.Params, a)
		default:
			text, err := AppendEDN(nil, a)
			if err != nil {
				return FuncMeta{}, err
			}
			m.Params = append(m.Params, string(text))
		}
	}
	return m, nil
}

func (m FuncMeta) withParam(p string) FuncMeta {
	m.Params = append(m.Params, p)
	return m
}
