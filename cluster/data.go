package cluster

import (
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
)

// NamespaceData is the data of the node that says a server serves a
// namespace, <root>/<cluster>/namespaces/<ns>/<host:port>, as JSON: how
// the namespace runs there, and its functions, for inspection across the
// cluster. The server updates it with each new version of the namespace,
// and ZooKeeper drops it with the node when the server stops serving the
// namespace, so it is never stale for long.
type NamespaceData struct {
	// Version is the version of the namespace's source, its content hash;
	// "" for functions written in Go.
	Version string `json:"version,omitempty"`
	// Stateful namespaces keep state between calls: clients send every
	// call to the namespace's leader.
	Stateful bool `json:"stateful,omitempty"`
	// Idempotent namespaces' calls may be made again after a failure.
	Idempotent bool `json:"idempotent,omitempty"`
	// Functions lists the namespace's functions, sorted by name.
	Functions []Function `json:"functions"`
	// Truncated says that docs or functions were left out, so that the
	// data stays under MaxNamespaceData.
	Truncated bool `json:"truncated,omitempty"`
}

// Function describes a function of a namespace.
type Function struct {
	Name   string   `json:"name"` // without the namespace
	Doc    string   `json:"doc,omitempty"`
	Params []string `json:"params"` // a variadic function's last is "..."
}

// MaxNamespaceData bounds the JSON of a NamespaceData, well under the 1 MB
// ZooKeeper allows a node.
const MaxNamespaceData = 256 << 10

// encode returns d as JSON, without docs, then without functions, if it
// would be longer than MaxNamespaceData.
func (d NamespaceData) encode() ([]byte, error) {
	if d.Functions == nil {
		d.Functions = []Function{}
	}
	b, err := json.Marshal(d)
	if err != nil || len(b) <= MaxNamespaceData {
		return b, err
	}
	d.Truncated = true
	d.Functions = slices.Clone(d.Functions)
	for i := range d.Functions {
		d.Functions[i].Doc = ""
	}
	if b, err = json.Marshal(d); err != nil || len(b) <= MaxNamespaceData {
		return b, err
	}
	d.Functions = []Function{}
	return json.Marshal(d)
}

// ParseNamespaceData parses the data of a namespace's server node. Empty
// data, written by servers that publish none, is the zero NamespaceData.
func ParseNamespaceData(b []byte) (NamespaceData, error) {
	var d NamespaceData
	if len(b) == 0 {
		return d, nil
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return NamespaceData{}, fmt.Errorf("cluster: namespace data: %w", err)
	}
	return d, nil
}

// candidatePrefix starts the names of the candidates of a leader
// election, which ZooKeeper ends with a sequence number.
const candidatePrefix = "n_"

// Leader returns the leader among the candidates of a leader election
// (the children of Layout.Leader), given the data of each, the address of
// the server it stands for: the address of the candidate with the lowest
// sequence number whose address ok accepts (nil accepts all). It returns
// "" when there is none.
func Leader(candidates map[string]string, ok func(addr string) bool) string {
	best, bestSeq := "", int64(-1)
	for name, addr := range candidates {
		seq, err := strconv.ParseInt(strings.TrimPrefix(path.Base(name), candidatePrefix), 10, 64)
		if err != nil || !strings.HasPrefix(path.Base(name), candidatePrefix) || ok != nil && !ok(addr) {
			continue
		}
		if bestSeq < 0 || seq < bestSeq {
			best, bestSeq = addr, seq
		}
	}
	return best
}
