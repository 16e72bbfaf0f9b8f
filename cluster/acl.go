package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/go-zookeeper/zk"
)

// Auth is the identity a member gives its ZooKeeper sessions, in
// ZooKeeper's digest scheme. A member with an identity makes every node it
// creates readable by all and writable only by that identity ([Auth.ACL]),
// and protects the cluster's nodes made open to all by an earlier server
// (see the package documentation, "ACLs"). The zero Auth is no identity:
// the nodes are made open to all.
type Auth struct {
	User     string // one name: no ':', whitespace or control characters
	Password string // not empty; no control characters
}

// IsZero reports whether a is no identity.
func (a Auth) IsZero() bool { return a == Auth{} }

// String names the identity as ZooKeeper's ACLs do, without its password:
// "digest:USER", or "none".
func (a Auth) String() string {
	if a.IsZero() {
		return "none"
	}
	return "digest:" + a.User
}

// ACL is the ACL of the nodes a member with identity a creates: all rights
// to a, and reading to anyone. Without an identity, all rights to anyone.
func (a Auth) ACL() []zk.ACL {
	if a.IsZero() {
		return zk.WorldACL(zk.PermAll)
	}
	return append(zk.DigestACL(zk.PermAll, a.User, a.Password), zk.WorldACL(zk.PermRead)...)
}

// check reports whether a can be given to ZooKeeper.
func (a Auth) check() error {
	if a.IsZero() {
		return nil
	}
	switch {
	case a.User == "":
		return fmt.Errorf("%w: no user", ErrBadAuth)
	case a.Password == "":
		return fmt.Errorf("%w: user %q has no password", ErrBadAuth, a.User)
	case !utf8.ValidString(a.User) || !utf8.ValidString(a.Password):
		return fmt.Errorf("%w: not UTF-8", ErrBadAuth)
	case strings.ContainsFunc(a.User, func(r rune) bool { return r == ':' || unicode.IsSpace(r) || unicode.IsControl(r) }):
		return fmt.Errorf("%w: user %q holds ':', a space or a control character", ErrBadAuth, a.User)
	case strings.ContainsFunc(a.Password, unicode.IsControl):
		return fmt.Errorf("%w: the password holds a control character", ErrBadAuth)
	}
	return nil
}

// MaxAuthFile is the largest credentials file ReadAuthFile reads.
const MaxAuthFile = 4 << 10

// ParseAuth parses ZooKeeper credentials: one line "user:password", split
// at the first ':' (the password may hold more). Blank lines and lines
// starting with # are skipped, and spaces around the line are trimmed. An
// error never quotes the password.
func ParseAuth(b []byte) (Auth, error) {
	if len(b) > MaxAuthFile {
		return Auth{}, fmt.Errorf("%w: longer than %d bytes", ErrBadAuth, MaxAuthFile)
	}
	var lines []string
	for line := range bytes.Lines(b) {
		s := strings.TrimSpace(string(line))
		if s != "" && !strings.HasPrefix(s, "#") {
			lines = append(lines, s)
		}
	}
	if len(lines) != 1 {
		return Auth{}, fmt.Errorf("%w: want one user:password line, found %d", ErrBadAuth, len(lines))
	}
	user, password, ok := strings.Cut(lines[0], ":")
	if !ok {
		return Auth{}, fmt.Errorf("%w: want user:password, found no ':'", ErrBadAuth)
	}
	a := Auth{User: user, Password: password}
	if a.IsZero() {
		return Auth{}, fmt.Errorf("%w: no user", ErrBadAuth)
	}
	return a, a.check()
}

// ReadAuthFile reads the credentials of the file at path (see ParseAuth).
// It refuses a file that others may read, or its group change, as ssh
// refuses a private key: mode 0600 or 0640 will do. A symbolic link is
// followed, and its target's mode checked.
func ReadAuthFile(path string) (Auth, error) {
	f, err := os.Open(path)
	if err != nil {
		return Auth{}, fmt.Errorf("cluster: ZooKeeper credentials: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Auth{}, fmt.Errorf("cluster: ZooKeeper credentials: %w", err)
	}
	if !st.Mode().IsRegular() {
		return Auth{}, fmt.Errorf("%w: %s is not a regular file", ErrBadAuth, path)
	}
	if perm := st.Mode().Perm(); perm&0o027 != 0 {
		return Auth{}, fmt.Errorf("%w: %s has mode %04o: others may read it or its group change it; chmod 600 (or 640) it", ErrAuthFileOpen, path, perm)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxAuthFile+1))
	if err != nil {
		return Auth{}, fmt.Errorf("cluster: ZooKeeper credentials: %w", err)
	}
	a, err := ParseAuth(b)
	if err != nil {
		return Auth{}, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

// worldWrites reports whether acl lets anyone do more than read.
func worldWrites(acl []zk.ACL) bool {
	for _, e := range acl {
		if e.Scheme == "world" && e.ID == "anyone" && e.Perms&^zk.PermRead != 0 {
			return true
		}
	}
	return false
}

// authenticate gives the member's identity to its connection, once: the
// connection gives it again, before anything else, in every connection and
// session it makes after that.
func (m *Member) authenticate() error {
	if m.cfg.Auth.IsZero() || m.authed {
		return nil
	}
	a := m.cfg.Auth
	if err := m.conn.AddAuth("digest", []byte(a.User+":"+a.Password)); err != nil {
		return fmt.Errorf("authenticating as %s: %w", a, err)
	}
	m.authed = true
	return nil
}

// guarded lists the persistent nodes of the cluster a member serving want
// protects: the cluster's node, its servers and namespaces nodes, and the
// node and _leader of every namespace, those it serves and, once in each
// session, those it finds. The nodes above the cluster's (the root) may
// be shared with clusters of other identities, and are left as they are.
func (m *Member) guarded(want map[string]nsWant) ([]string, error) {
	l := m.cfg.Layout
	names := slices.Collect(maps.Keys(want))
	if !m.listed {
		kids, _, err := m.conn.Children(l.Namespaces())
		if err != nil && !errors.Is(err, zk.ErrNoNode) {
			return nil, fmt.Errorf("listing %s: %w", l.Namespaces(), err)
		}
		names = append(names, kids...)
	}
	nodes := []string{l.base(), l.Servers(), l.Namespaces()}
	for _, ns := range names {
		if !strings.HasPrefix(ns, "_") {
			nodes = append(nodes, l.Namespace(ns), l.Leader(ns))
		}
	}
	return nodes, nil
}

// protect protects the nodes of the cluster (see guarded) not yet looked
// at in this session.
func (m *Member) protect(want map[string]nsWant) error {
	nodes, err := m.guarded(want)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range nodes {
		if m.guards[p] || m.stopping() {
			continue
		}
		ok, err := m.guard(p)
		if err != nil {
			errs = append(errs, err)
		}
		m.guards[p] = ok
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	m.listed = true
	return nil
}

// guard protects the node p, if it is there and open to writes by anyone:
// its ACL becomes the member's. A node whose ACL is closed to the world is
// left as it is, whatever identities it names. It reports whether p needs
// no more looking at in this session.
func (m *Member) guard(p string) (bool, error) {
	acl, st, err := m.conn.GetACL(p)
	switch {
	case errors.Is(err, zk.ErrNoNode):
		return true, nil // made with the member's ACL when needed
	case err != nil:
		return false, fmt.Errorf("reading the ACL of %s: %w", p, err)
	case !worldWrites(acl):
		return true, nil
	}
	_, err = m.conn.SetACL(p, m.acl, st.Aversion)
	switch {
	case errors.Is(err, zk.ErrNoNode):
		return true, nil
	case errors.Is(err, zk.ErrNoAuth):
		m.cfg.Logger.Warn("a node of the cluster is open to writes by anyone, and this server's identity can't change its ACL",
			"node", p, "acl", formatACL(acl), "identity", m.cfg.Auth.String())
		return true, nil
	case err != nil:
		return false, fmt.Errorf("setting the ACL of %s: %w", p, err)
	}
	m.cfg.Logger.Info("protected a node of the cluster that was open to anyone: now only this server's identity may change it",
		"node", p, "was", formatACL(acl), "identity", m.cfg.Auth.String())
	return true, nil
}

// refusedHint explains a write ZooKeeper refused for want of rights.
func (m *Member) refusedHint() string {
	if m.cfg.Auth.IsZero() {
		return "the cluster's nodes are protected by an ACL: give the server the cluster's credentials (CLUSTER.md, ACLs)"
	}
	return "a node's ACL does not let " + m.cfg.Auth.String() + " write it: the wrong password, or a node made by another identity (CLUSTER.md, ACLs)"
}

// formatACL writes acl as ZooKeeper's CLI does, scheme:id:perms by
// commas, but for the password hash of a digest id, which it leaves out
// as ZooKeeper does for those who may only read: digest:user:x.
func formatACL(acl []zk.ACL) string {
	var b strings.Builder
	for i, e := range acl {
		if i > 0 {
			b.WriteByte(',')
		}
		id := e.ID
		if user, _, ok := strings.Cut(id, ":"); ok && e.Scheme == "digest" {
			id = user + ":x"
		}
		b.WriteString(e.Scheme + ":" + id + ":")
		for j, c := range "rwcda" { // PermRead, PermWrite, PermCreate, PermDelete, PermAdmin
			if e.Perms&(1<<j) != 0 {
				b.WriteRune(c)
			}
		}
	}
	return b.String()
}
