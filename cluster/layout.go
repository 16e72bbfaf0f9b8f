package cluster

import "path"

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
