package cluster

import (
	"fmt"
	"path"
	"strings"
	"unicode"
)

// DefaultRoot is the root under which clusters are registered.
const DefaultRoot = "/slacker"

// SlackerRoot is the root of slacker cluster's own servers and clients,
// under which a member writes slacker cluster's layout by default (see
// [Format]).
const SlackerRoot = "/slacker/cluster"

// Layout names the znodes of a cluster: see the package documentation.
type Layout struct {
	Root    string // "" means DefaultRoot
	Cluster string
	// Format says which layout a member writes; FormatAuto, the zero
	// value, is slacker cluster's under SlackerRoot and slacker-lua's
	// elsewhere. A client reads both, whatever Format says.
	Format Format
}

// Format is the layout a [Member] writes: slacker-lua's alone, or
// slacker cluster's too, which the original slacker cluster's clients
// read (see the package documentation, "Slacker cluster's layout").
type Format int

const (
	// FormatAuto is FormatSlacker when the root is SlackerRoot, and
	// FormatSlackerLua otherwise.
	FormatAuto Format = iota
	// FormatSlackerLua writes slacker-lua's layout alone.
	FormatSlackerLua
	// FormatSlacker writes slacker cluster's layout beside slacker-lua's:
	// server data in EDN, functions/<ns>/<fn> nodes, and a leader for
	// every namespace, elected with slacker cluster's servers, named by
	// the data of its _leader node.
	FormatSlacker
)

var formatNames = [...]string{FormatAuto: "auto", FormatSlackerLua: "slacker-lua", FormatSlacker: "slacker"}

func (f Format) String() string {
	if f >= 0 && int(f) < len(formatNames) {
		return formatNames[f]
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// ParseFormat returns the Format named s: auto, slacker-lua or slacker.
func ParseFormat(s string) (Format, error) {
	for f, name := range formatNames {
		if s == name {
			return Format(f), nil
		}
	}
	return 0, fmt.Errorf("cluster: layout %q: want auto, slacker-lua or slacker", s)
}

// Slacker reports whether a member writes slacker cluster's layout in l.
func (l Layout) Slacker() bool {
	return l.Format == FormatSlacker || l.Format == FormatAuto && l.Root == SlackerRoot
}

func (l Layout) base() string { return path.Join(l.root(), l.Cluster) }

func (l Layout) root() string {
	if l.Root == "" {
		return DefaultRoot
	}
	return l.Root
}

// Servers is the node whose children are the cluster's servers.
func (l Layout) Servers() string { return path.Join(l.base(), "servers") }

// Server is the node of the server at addr.
func (l Layout) Server(addr string) string { return path.Join(l.Servers(), addr) }

// Namespaces is the node whose children are the cluster's namespaces.
func (l Layout) Namespaces() string { return path.Join(l.base(), "namespaces") }

// Namespace is the node whose children are the servers of ns.
func (l Layout) Namespace(ns string) string { return path.Join(l.Namespaces(), ns) }

// NamespaceServer is the node that says the server at addr serves ns.
func (l Layout) NamespaceServer(ns, addr string) string { return path.Join(l.Namespace(ns), addr) }

// Leader is the node whose children are the candidates of the leader
// election of the stateful namespace ns.
func (l Layout) Leader(ns string) string { return path.Join(l.Namespace(ns), "_leader") }

// Mutex is the node under which the servers of ns stand in slacker
// cluster's leader election (Curator's LeaderSelector), in
// FormatSlacker.
func (l Layout) Mutex(ns string) string { return path.Join(l.Leader(ns), "mutex") }

// Functions is the node whose children are the namespaces whose
// functions slacker cluster's servers (and members in FormatSlacker)
// describe.
func (l Layout) Functions() string { return path.Join(l.base(), "functions") }

// NamespaceFunctions is the node whose children describe the functions
// of ns, in slacker cluster's layout.
func (l Layout) NamespaceFunctions(ns string) string { return path.Join(l.Functions(), ns) }

// Function is the node that describes the function fn of ns, in slacker
// cluster's layout: its data is EDN, {:name fn :doc "..." :arglists ([a b])}.
func (l Layout) Function(ns, fn string) string { return path.Join(l.NamespaceFunctions(ns), fn) }

// Check reports whether l names a valid place: a cluster name that is one
// znode name, under an absolute root.
func (l Layout) Check() error {
	if err := checkName(l.Cluster); err != nil {
		return fmt.Errorf("cluster: Layout.Cluster: %w", err)
	}
	if l.Root != "" && (!strings.HasPrefix(l.Root, "/") || path.Clean(l.Root) != l.Root || l.Root == "/") {
		return fmt.Errorf("cluster: Layout.Root %q: want an absolute znode path, such as %s", l.Root, DefaultRoot)
	}
	if l.Format < FormatAuto || l.Format > FormatSlacker {
		return fmt.Errorf("cluster: Layout.Format %d: want FormatAuto, FormatSlackerLua or FormatSlacker", int(l.Format))
	}
	if l.Root == "" {
		return nil
	}
	for part := range strings.SplitSeq(l.Root[1:], "/") {
		if err := checkName(part); err != nil {
			return fmt.Errorf("cluster: Layout.Root: %w", err)
		}
	}
	return nil
}

// CheckNamespace reports whether ns can be registered: it must be one
// znode name, and not start with "_", which marks the children of a
// namespace's node that are not servers.
func CheckNamespace(ns string) error {
	if strings.HasPrefix(ns, "_") {
		return fmt.Errorf("cluster: namespace %q starts with _", ns)
	}
	if err := checkName(ns); err != nil {
		return fmt.Errorf("cluster: namespace: %w", err)
	}
	return nil
}

// checkName reports whether s can be one znode name: not empty, "." or
// "..", and without slashes or the characters ZooKeeper refuses.
func checkName(s string) error {
	if s == "" || s == "." || s == ".." {
		return fmt.Errorf("%q can't name a znode", s)
	}
	for _, r := range s {
		if r == '/' || unicode.IsControl(r) || r >= 0xd800 && r <= 0xf8ff || r >= 0xfff0 {
			return fmt.Errorf("%q can't name a znode: it holds %q", s, r)
		}
	}
	return nil
}
