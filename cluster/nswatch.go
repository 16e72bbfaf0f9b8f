package cluster

import (
	"errors"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"
)

// nsWatch publishes the states of one namespace, as ZooKeeper has them. Its ZooKeeper
// watches are one-shot: each is forwarded, when it fires, to the loop,
// which reads what changed and sets it again. Watches fire when the
// session ends too, so all are set again in a new session.
type nsWatch struct {
	d    *zkDiscovery
	ns   string
	stop <-chan struct{} // closed when the client forgets the namespace
	out  func(*nsState)  // publishes each new state
	last *nsState        // the state published last

	fired   chan string     // the key of each watch that fired
	watched map[string]bool // the watches set: "" for the children, "_data" for the node's data, "_leader", ...
	servers []string        // the servers listed, sorted
	data    map[string]NamespaceData

	// The namespace's node counts the changes of its children's data in
	// its data's version, and of its children in its cversion (see
	// Member.setData); a change the watch could not follow makes it read
	// every server's data again.
	version  bumps           // of the node's data
	cversion int32           // -1 until listed
	kids     []string        // the children listed last, sorted
	stale    map[string]bool // the servers whose data changed since it was read
	allStale bool            // every server's data may have changed since it was read

	cands   map[string]string // the leader election's candidates: address by name
	foreign map[string]bool   // the servers that publish no namespace data, as slacker cluster's
	lead    string            // the data of _leader: the address of the leader slacker cluster's way
	fns     []Function        // the functions under functions/<ns>, sorted; nil if there is no such node

	// In a new session, the servers of the last one are kept for a
	// session timeout, and for up to three while none is listed: an
	// ensemble that lost its data has none of them until they register
	// again, which they do once they have new sessions too.
	session   int64
	kept      []Server
	keepUntil time.Time // with servers listed
	keepEmpty time.Time // with none
}

// minRead is the least time between two reads of a namespace by its
// watch.
const minRead = 100 * time.Millisecond

// run publishes the states of the namespace until stop or close.
func (w *nsWatch) run() {
	d := w.d
	backoff := 50 * time.Millisecond
	var readAt time.Time
	for {
		readAt = time.Now()
		err := w.read()
		switch {
		case errors.Is(err, zk.ErrInvalidPath) || errors.Is(err, zk.ErrBadArguments):
			// No node can have that path: no server serves ns.
			w.out(&nsState{})
			return
		case err != nil:
			// ZooKeeper can't be asked: the last state stays.
			d.log.Debug("looking up a namespace", "namespace", w.ns, "err", err)
			select {
			case <-d.done:
				return
			case <-w.stop:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		if sid := d.conn().SessionID(); sid != w.session {
			if st := w.last; w.session != 0 && st != nil {
				w.kept, w.keepUntil, w.keepEmpty = st.servers, time.Now().Add(d.timeout), time.Now().Add(3*d.timeout)
			}
			w.session = sid
		}
		w.publish()
		var keep <-chan time.Time
		if d := time.Until(w.keepEnd()); d > 0 {
			keep = time.After(d) // then publish without them
		}
		select {
		case key := <-w.fired:
			w.unwatch(key)
		case <-keep:
		case <-d.done:
			return
		case <-w.stop:
			return
		}
		// Read at most every minRead, taking what else fired meanwhile, to
		// read it all at once: when many servers come or go together, a
		// namespace's servers are listed a few times, not once each.
		if wait := minRead - time.Since(readAt); wait > 0 {
			select {
			case <-time.After(wait):
			case <-d.done:
				return
			case <-w.stop:
				return
			}
		}
		for more := true; more; {
			select {
			case key := <-w.fired:
				w.unwatch(key)
			default:
				more = false
			}
		}
	}
}

// read reads, and watches again, what is not watched: the namespace's
// servers, the data of each, and its leader election if it is stateful.
// The data of the namespace's node is watched first, then its children:
// a server's data read after them is at least as new as what they said.
func (w *nsWatch) read() error {
	p := w.d.layout.Namespace(w.ns)
	if !w.watched["_data"] {
		b, st, ch, err := w.d.data(p)
		if err != nil {
			return err
		}
		w.forward("_data", ch)
		switch addr, all := w.version.next(st, b); {
		case all:
			w.allStale = true
		case addr != "":
			w.stale[addr] = true
		}
	}
	if !w.watched[""] {
		kids, st, ch, err := w.d.children(p)
		if err != nil {
			return err
		}
		w.forward("", ch)
		slices.Sort(kids)
		if st != nil && w.cversion >= 0 && st.Cversion-w.cversion != int32(differ(w.kids, kids)) {
			w.allStale = true // a child was deleted and made again meanwhile
		}
		w.kids, w.cversion = kids, -1
		if st != nil {
			w.cversion = st.Cversion
		}
		w.servers = slices.DeleteFunc(slices.Clone(kids), func(s string) bool { return strings.HasPrefix(s, "_") })
		for addr := range w.data {
			if _, ok := slices.BinarySearch(w.servers, addr); !ok {
				delete(w.data, addr)
				delete(w.foreign, addr)
			}
		}
	}
	if err := w.readServers(p); err != nil {
		return err
	}
	stateful := false
	for _, addr := range w.servers {
		stateful = stateful || w.data[addr].Stateful
	}
	if err := w.readSlacker(); err != nil {
		return err
	}
	if !stateful {
		return nil // the candidates, if watched, are still current
	}
	if w.watched["_leader"] && w.cands != nil {
		return nil
	}
	lp := w.d.layout.Leader(w.ns)
	var kids []string
	if !w.watched["_leader"] {
		var ch <-chan zk.Event
		var err error
		if kids, _, ch, err = w.d.children(lp); err != nil {
			return err
		}
		w.forward("_leader", ch)
	} else {
		// Watched, but a candidate could not be read: list them again
		// under the same watch.
		var err error
		if kids, _, err = w.d.conn().Children(lp); err != nil && !errors.Is(err, zk.ErrNoNode) {
			return err
		}
	}
	w.cands = nil // until all are read
	cands := make(map[string]string, len(kids))
	for _, k := range kids {
		b, _, err := w.d.conn().Get(path.Join(lp, k))
		switch {
		case errors.Is(err, zk.ErrNoNode):
			continue // its deletion fires the watch
		case err != nil:
			return err
		}
		cands[k] = string(b)
	}
	w.cands = cands
	return nil
}

// readServers reads the data of the servers listed that it has not read,
// or that changed since. A server read anew (not read before, or when
// any may have changed unseen) may have a new session, and its server's
// data is read again too.
func (w *nsWatch) readServers(p string) error {
	var todo []string
	for _, addr := range w.servers {
		if _, ok := w.data[addr]; !ok || w.allStale || w.stale[addr] {
			todo = append(todo, addr)
		}
	}
	paths := make([]string, len(todo))
	for i, addr := range todo {
		paths[i] = path.Join(p, addr)
	}
	bs, _, errs := getAll(w.d.conn(), paths)
	for _, err := range errs {
		if err != nil && !errors.Is(err, zk.ErrNoNode) {
			return err
		}
	}
	for i, addr := range todo {
		_, had := w.data[addr]
		if errors.Is(errs[i], zk.ErrNoNode) {
			delete(w.data, addr) // gone meanwhile: the children's watch has fired
			delete(w.foreign, addr)
			continue
		}
		d, err := ParseNamespaceData(bs[i])
		if err != nil {
			w.d.log.Warn("bad namespace data", "namespace", w.ns, "server", addr, "err", err)
		}
		w.data[addr] = d
		if len(bs[i]) == 0 {
			w.foreign[addr] = true
		} else {
			delete(w.foreign, addr)
		}
		if !had || w.allStale {
			w.d.serverChanged(addr)
		}
	}
	clear(w.stale)
	w.allStale = false
	return nil
}

// bumps follows the version of a parent's data, which a member bumps,
// writing its address as the data, with each change of its child's data
// (see Member.setData).
type bumps struct {
	version int32 // the version last read; -1 until read, or while the node is missing
}

// next takes the parent's stat st and data b as read now, and returns the
// address of the member whose child changed since the last read, or all
// when more than one change was missed (or the node was made anew). It
// returns neither at the first read.
func (c *bumps) next(st *zk.Stat, b []byte) (addr string, all bool) {
	switch {
	case st == nil || c.version < 0:
	case st.Version == c.version+1:
		addr = string(b)
	case st.Version != c.version:
		all = true
	}
	c.version = -1
	if st != nil {
		c.version = st.Version
	}
	return addr, all
}

// differ counts the names in one of the sorted lists a and b and not
// the other.
func differ(a, b []string) int {
	n := 0
	for len(a) > 0 && len(b) > 0 {
		switch c := strings.Compare(a[0], b[0]); {
		case c == 0:
			a, b = a[1:], b[1:]
		case c < 0:
			a, n = a[1:], n+1
		default:
			b, n = b[1:], n+1
		}
	}
	return n + len(a) + len(b)
}

// readSlacker reads, and watches again, what slacker cluster's layout
// adds: the data of _leader, which names the leader, and, when some
// server publishes no namespace data (one of slacker cluster's), the
// functions under functions/<ns>.
func (w *nsWatch) readSlacker() error {
	if !w.watched["_leaderdata"] {
		lp := w.d.layout.Leader(w.ns)
		b, _, ch, err := w.d.data(lp)
		if err != nil {
			return err
		}
		w.forward("_leaderdata", ch)
		w.lead = string(b)
	}
	if len(w.foreign) == 0 || w.watched["_functions"] {
		return nil
	}
	dir := w.d.layout.NamespaceFunctions(w.ns)
	kids, _, ch, err := w.d.children(dir)
	if err != nil {
		return err
	}
	var fns []Function
	if kids != nil {
		fns = []Function{}
		for _, k := range kids {
			b, _, err := w.d.conn().Get(path.Join(dir, k))
			switch {
			case errors.Is(err, zk.ErrNoNode):
				continue // its deletion fires the watch
			case err != nil:
				return err
			}
			f, err := parseFunctionEDN(k, b)
			if err != nil {
				w.d.log.Warn("bad function data", "namespace", w.ns, "function", k, "err", err)
			}
			fns = append(fns, f)
		}
		slices.SortFunc(fns, func(a, b Function) int { return strings.Compare(a.Name, b.Name) })
	}
	w.forward("_functions", ch)
	w.fns = fns
	return nil
}

// unwatch records that the watch key fired.
func (w *nsWatch) unwatch(key string) {
	delete(w.watched, key)
	if key == "_leader" {
		w.cands = nil
	}
}

// forward sets the watch key, forwarding ch's event to the loop when it
// fires, unless the discovery is closed or stopped first.
func (w *nsWatch) forward(key string, ch <-chan zk.Event) {
	w.watched[key] = true
	w.d.start(func() {
		select {
		case <-ch:
		case <-w.d.done:
			return
		case <-w.stop:
			return
		}
		select {
		case w.fired <- key:
		case <-w.d.done:
		case <-w.stop:
		}
	})
}

// publish stores what the watch read as the lookup's state.
func (w *nsWatch) publish() {
	st := &nsState{}
	for _, addr := range w.servers {
		d, ok := w.data[addr]
		if !ok {
			continue
		}
		if w.foreign[addr] && w.fns != nil {
			d.Functions = w.fns
		}
		st.servers = append(st.servers, Server{Addr: addr, Namespace: d})
		st.stateful = st.stateful || d.Stateful
	}
	if time.Now().Before(w.keepEnd()) {
		for _, k := range w.kept {
			if _, ok := w.data[k.Addr]; !ok {
				k.Leader = false
				st.servers = append(st.servers, k)
				st.stateful = st.stateful || k.Namespace.Stateful // its calls wait for a leader
			}
		}
		slices.SortFunc(st.servers, func(a, b Server) int { return strings.Compare(a.Addr, b.Addr) })
	}
	listed := func(addr string) bool { _, ok := w.data[addr]; return ok }
	var leader string
	if st.stateful {
		leader = Leader(w.cands, listed)
	}
	if leader == "" && listed(w.lead) {
		leader = w.lead // slacker cluster's leader, or a member's in FormatSlacker
	}
	if leader != "" {
		for i := range st.servers {
			if st.servers[i].Addr == leader {
				st.servers[i].Leader = true
				st.leader = &st.servers[i]
			}
		}
	}
	if old := w.last; old == nil || !sameServers(old, st) {
		var leader string
		if st.leader != nil {
			leader = st.leader.Addr
		}
		w.d.log.Debug("servers of a namespace", "namespace", w.ns, "servers", w.servers, "leader", leader)
	}
	w.last = st
	w.out(st)
}

// keepEnd is when the servers of the last session stop being kept.
func (w *nsWatch) keepEnd() time.Time {
	if len(w.data) == 0 {
		return w.keepEmpty
	}
	return w.keepUntil
}

func sameServers(a, b *nsState) bool {
	return slices.EqualFunc(a.servers, b.servers, func(x, y Server) bool { return x.Addr == y.Addr && x.Leader == y.Leader })
}

// data reads the data of p and watches it, with p's stat; when p is
// missing, none and no stat, watching for p to be made.
func (d *zkDiscovery) data(p string) ([]byte, *zk.Stat, <-chan zk.Event, error) {
	b, st, ch, err := d.conn().GetW(p)
	if errors.Is(err, zk.ErrNoNode) {
		var ok bool
		ok, _, ch, err = d.conn().ExistsW(p)
		if err == nil && ok {
			return d.data(p) // made meanwhile
		}
		return nil, nil, ch, err
	}
	return b, st, ch, err
}

// children lists the children of p and watches them, with p's stat; when
// p is missing, none and no stat, watching for p to be made.
func (d *zkDiscovery) children(p string) ([]string, *zk.Stat, <-chan zk.Event, error) {
	kids, st, ch, err := d.conn().ChildrenW(p)
	if errors.Is(err, zk.ErrNoNode) {
		var ok bool
		ok, _, ch, err = d.conn().ExistsW(p)
		if err == nil && ok {
			return d.children(p) // made meanwhile
		}
		return nil, nil, ch, err
	}
	return kids, st, ch, err
}
