package cluster

import (
	"fmt"
	"path"
	"strings"
	"unicode"
)

// DefaultRoot is the root under which clusters are registered.
const DefaultRoot = "/slacker"

// Layout names the znodes of a cluster: see the package documentation.
type Layout struct {
	Root    string // "" means DefaultRoot
	Cluster string
}

func (l Layout) base() string {
	root := l.Root
	if root == "" {
		root = DefaultRoot
	}
	return path.Join(root, l.Cluster)
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

// Check reports whether l names a valid place: a cluster name that is one
// znode name, under an absolute root.
func (l Layout) Check() error {
	if err := checkName(l.Cluster); err != nil {
		return fmt.Errorf("cluster: Layout.Cluster: %w", err)
	}
	if l.Root != "" && (!strings.HasPrefix(l.Root, "/") || path.Clean(l.Root) != l.Root || l.Root == "/") {
		return fmt.Errorf("cluster: Layout.Root %q: want an absolute znode path, such as %s", l.Root, DefaultRoot)
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
