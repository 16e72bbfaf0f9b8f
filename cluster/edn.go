package cluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/slacker-lua/slacker-lua/transport"
)

// The data of slacker cluster's layout is EDN, as slacker cluster's
// servers write it (pr-str) and its clients read it (clojure.edn):
//
//	servers/<host:port>       the server data: a map, or nil
//	functions/<ns>/<fn>       {:name fn, :doc "...", :arglists ([a b])}
//	namespaces/<ns>/_leader   not EDN: the leader's host:port, in UTF-8
//
// A member in FormatSlacker writes its ServerData as the map
// {:weight 1, :version "0.1.0", :started-at #inst "...", ...}, with :http,
// :offline and :offline-namespaces when it has them, and the entries of
// ServerData.Data beside those, keyed by keywords where their names make
// valid ones (the member's own keys win a clash). Clojure servers' maps
// are theirs: ParseServerData takes :weight, :version, :started-at (or
// :started_at), :http, :offline and :offline-namespaces (or
// :offline_namespaces) from them when they have the right types, and the
// rest as Data.

// ednStartedLayout is the layout of #inst, as Clojure prints a Date.
const ednStartedLayout = "2006-01-02T15:04:05.000-00:00"

// encodeServerDataEDN returns d as slacker cluster's server data.
func encodeServerDataEDN(d ServerData) ([]byte, error) {
	m := make(map[any]any, len(d.Data)+3)
	for k, v := range d.Data {
		if _, err := transport.AppendEDN(nil, transport.Keyword(k)); err == nil {
			m[transport.Keyword(k)] = v
		} else {
			m[k] = v
		}
	}
	m[transport.Keyword("weight")] = d.Weight
	m[transport.Keyword("version")] = d.Version
	if d.HTTP != "" {
		m[transport.Keyword("http")] = d.HTTP
	}
	if d.Offline {
		m[transport.Keyword("offline")] = true
	}
	if len(d.OfflineNamespaces) > 0 {
		nss := make([]any, len(d.OfflineNamespaces))
		for i, ns := range d.OfflineNamespaces {
			nss[i] = ns
		}
		m[transport.Keyword("offline-namespaces")] = nss
	}
	if !d.StartedAt.IsZero() {
		m[transport.Keyword("started-at")] = transport.Tagged{Tag: "inst", Value: d.StartedAt.UTC().Format(ednStartedLayout)}
	}
	b, err := transport.AppendEDN(nil, m)
	if err != nil {
		return nil, fmt.Errorf("cluster: server data: %w", err)
	}
	return b, nil
}

// ParseServerData parses the data of a server's node: slacker-lua's JSON
// or slacker cluster's EDN (see [Member]'s layouts). Empty data, and EDN
// nil, which slacker cluster's servers write when given no server data,
// are the zero ServerData.
func ParseServerData(b []byte) (ServerData, error) {
	var d ServerData
	t := bytes.TrimSpace(b)
	if len(t) == 0 {
		return d, nil
	}
	if t[0] == '{' && json.Valid(t) {
		if err := json.Unmarshal(t, &d); err != nil {
			return ServerData{}, fmt.Errorf("cluster: server data: %w", err)
		}
		return d, nil
	}
	v, err := transport.ParseEDN(t)
	if err != nil {
		return ServerData{}, fmt.Errorf("cluster: server data: neither JSON nor EDN: %w", err)
	}
	if v == nil {
		return d, nil
	}
	m, ok := v.(map[any]any)
	if !ok {
		return ServerData{}, fmt.Errorf("cluster: server data: want a map, not %s", ednKind(v))
	}
	for k, v := range m {
		name := ednKey(k)
		switch {
		case name == "weight" && isEDNInt(v):
			d.Weight = ednInt(v)
		case name == "version" && isString(v):
			d.Version = v.(string)
		case (name == "started-at" || name == "started_at") && ednTime(v) != nil:
			d.StartedAt = *ednTime(v)
		case name == "http" && isString(v):
			d.HTTP = v.(string)
		case name == "offline" && v == true:
			d.Offline = true
		case (name == "offline-namespaces" || name == "offline_namespaces") && isStrings(v):
			d.OfflineNamespaces = ednStrings(v)
		default:
			if d.Data == nil {
				d.Data = make(map[string]any)
			}
			d.Data[name] = fromEDN(v)
		}
	}
	return d, nil
}

// ednKey is the name of a map key: a keyword's or symbol's without its
// colon, a string as it is, anything else as EDN.
func ednKey(k any) string {
	switch k := k.(type) {
	case transport.Keyword:
		return string(k)
	case transport.Symbol:
		return string(k)
	case string:
		return k
	}
	b, _ := transport.AppendEDN(nil, k)
	return string(b)
}

func isString(v any) bool { _, ok := v.(string); return ok }

// isStrings reports whether v is an EDN vector of strings.
func isStrings(v any) bool {
	vs, ok := v.([]any)
	return ok && !slices.ContainsFunc(vs, func(e any) bool { return !isString(e) })
}

func ednStrings(v any) []string {
	vs := v.([]any)
	out := make([]string, len(vs))
	for i, e := range vs {
		out[i] = e.(string)
	}
	return out
}

func isEDNInt(v any) bool {
	i, ok := v.(int64)
	return ok && i >= math.MinInt32 && i <= math.MaxInt32
}

func ednInt(v any) int { return int(v.(int64)) }

// ednTime returns the time of an #inst, or of a string in RFC 3339; nil
// for anything else.
func ednTime(v any) *time.Time {
	if t, ok := v.(transport.Tagged); ok && t.Tag == "inst" {
		v = t.Value
	}
	s, ok := v.(string)
	if !ok {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil
	}
	return &t
}

// fromEDN returns v, an EDN value as ParseEDN yields it, as the value of
// JSON that reads alike: keywords and symbols become their names (a
// keyword with its colon), lists and sets arrays, maps objects keyed by
// ednKey, tagged elements their element.
func fromEDN(v any) any {
	switch v := v.(type) {
	case transport.Keyword:
		return ":" + string(v)
	case transport.Symbol:
		return string(v)
	case transport.List:
		return fromEDN([]any(v))
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = fromEDN(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[ednKey(k)] = fromEDN(e)
		}
		return out
	case transport.Tagged:
		return fromEDN(v.Value)
	}
	return v
}

func ednKind(v any) string {
	switch v.(type) {
	case transport.List, []any:
		return "a sequence"
	case string:
		return "a string"
	case transport.Keyword:
		return "a keyword"
	case transport.Symbol:
		return "a symbol"
	}
	return fmt.Sprintf("a %T", v)
}

// variadicParam is the name a function's variadic parameter has in its
// arglist, after &, when its Params end with "...".
const variadicParam = "more"

// encodeFunctionEDN returns the data of a function's node in slacker
// cluster's layout: its name as a symbol, its doc if it has one, and its
// one arglist, with "..." written & more.
func encodeFunctionEDN(f Function) ([]byte, error) {
	args := make([]any, 0, len(f.Params)+1)
	for _, p := range f.Params {
		if p == "..." {
			args = append(args, transport.Symbol("&"), transport.Symbol(variadicParam))
			continue
		}
		args = append(args, ednSymbolOr(p))
	}
	m := map[transport.Keyword]any{
		"name":     ednSymbolOr(f.Name),
		"arglists": transport.List{args},
	}
	if f.Doc != "" {
		m["doc"] = f.Doc
	}
	b, err := transport.AppendEDN(nil, m)
	if err != nil {
		return nil, fmt.Errorf("cluster: function %s: %w", f.Name, err)
	}
	return b, nil
}

// ednSymbolOr returns s as a symbol, or as a string where it can't be one.
func ednSymbolOr(s string) any {
	if _, err := transport.AppendEDN(nil, transport.Symbol(s)); err == nil {
		return transport.Symbol(s)
	}
	return s
}

// parseFunctionEDN parses the data of the node of the function name, as
// slacker cluster's servers write it: a map of whichever of :name, :doc
// and :arglists the function's var has; {} for a function exposed in a
// map, with none. Its Params are its first arglist's, & and the
// parameter after it written "...", any destructuring form as EDN.
func parseFunctionEDN(name string, b []byte) (Function, error) {
	f := Function{Name: name}
	if len(bytes.TrimSpace(b)) == 0 {
		return f, nil
	}
	v, err := transport.ParseEDN(b)
	if err != nil {
		return f, fmt.Errorf("cluster: function %s: %w", name, err)
	}
	m, ok := v.(map[any]any)
	if !ok {
		if v == nil {
			return f, nil
		}
		return f, fmt.Errorf("cluster: function %s: want a map, not %s", name, ednKind(v))
	}
	if doc, ok := m[transport.Keyword("doc")].(string); ok {
		f.Doc = doc
	}
	var arglists []any
	switch a := m[transport.Keyword("arglists")].(type) {
	case transport.List:
		arglists = a
	case []any:
		arglists = a
	}
	if len(arglists) > 0 {
		args, _ := arglists[0].([]any)
		f.Params = []string{}
		for i := 0; i < len(args); i++ {
			if args[i] == transport.Symbol("&") {
				f.Params = append(f.Params, "...")
				break
			}
			if s, ok := args[i].(transport.Symbol); ok {
				f.Params = append(f.Params, string(s))
				continue
			}
			t, _ := transport.AppendEDN(nil, args[i])
			f.Params = append(f.Params, string(t))
		}
	}
	return f, nil
}

// sortedFunctions returns the functions of fs, sorted by name.
func sortedFunctions(fs map[string]Function) []Function {
	out := make([]Function, 0, len(fs))
	for _, name := range slices.Sorted(maps.Keys(fs)) {
		out = append(out, fs[name])
	}
	return out
}

// candidateInfix is in the names of the candidates of slacker cluster's
// leader election (Curator's lock nodes, _c_<uuid>-lock-<seq>): the
// sequence number follows it, and orders them.
const candidateInfix = "lock-"

// mutexLeader returns, among the children of a Mutex node, the one that
// leads: the lowest sequence number after "lock-", as Curator's
// InterProcessMutex sorts them. It returns "" when there is none.
func mutexLeader(kids []string) string {
	best, bestSeq := "", ""
	for _, k := range kids {
		i := strings.LastIndex(k, candidateInfix)
		if i < 0 {
			continue
		}
		seq := k[i+len(candidateInfix):]
		if best == "" || seq < bestSeq {
			best, bestSeq = k, seq
		}
	}
	return best
}
