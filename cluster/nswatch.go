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
	watched map[string]bool // the watches set: "" for the children, "_leader", or a server's address
	servers []string        // the servers listed, sorted
	data    map[string]NamespaceData
	cands   map[string]string // the leader election's candidates: address by name
	foreign map[string]bool   // the servers that publish no namespace data, as slacker cluster's
	lead    string            // the data of _leader: the address of the leader slacker cluster's way
	fns     []Function        // the functions under functions/<ns>, sorted; nil if there is no such node

	// In a new session, the servers of the last one are kept for a
	// session timeout: an ensemble that lost its data has none of them
	// until they register again.
	session   int64
	kept      []Server
	keepUntil time.Time
}

// run publishes the states of the namespace until stop or close.
func (w *nsWatch) run() {
	d := w.d
	backoff := 50 * time.Millisecond
	for {
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
				w.kept, w.keepUntil = st.servers, time.Now().Add(d.timeout)
			}
			w.session = sid
		}
		w.publish()
		var keep <-chan time.Time
		if d := time.Until(w.keepUntil); d > 0 {
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
		// Take what else fired meanwhile, to read it all at once.
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
func (w *nsWatch) read() error {
	p := w.d.layout.Namespace(w.ns)
	if !w.watched[""] {
		kids, ch, err := w.d.children(p)
		if err != nil {
			return err
		}
		w.forward("", ch)
		w.servers = slices.DeleteFunc(kids, func(s string) bool { return strings.HasPrefix(s, "_") })
		slices.Sort(w.servers)
		for addr := range w.data {
			if !slices.Contains(w.servers, addr) {
				delete(w.data, addr) // its watch fires with the node's deletion
				delete(w.foreign, addr)
			}
		}
	}
	stateful := false
	for _, addr := range w.servers {
		if !w.watched[addr] {
			b, _, ch, err := w.d.conn().GetW(path.Join(p, addr))
			switch {
			case errors.Is(err, zk.ErrNoNode):
				delete(w.data, addr) // gone meanwhile: the children's watch has fired
				continue
			case err != nil:
				return err
			}
			w.forward(addr, ch)
			d, err := ParseNamespaceData(b)
			if err != nil {
				w.d.log.Warn("bad namespace data", "namespace", w.ns, "server", addr, "err", err)
			}
			w.data[addr] = d
			if len(b) == 0 {
				w.foreign[addr] = true
			} else {
				delete(w.foreign, addr)
			}
		}
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
		if kids, ch, err = w.d.children(lp); err != nil {
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

// readSlacker reads, and watches again, what slacker cluster's layout
// adds: the data of _leader, which names the leader, and, when some
// server publishes no namespace data (one of slacker cluster's), the
// functions under functions/<ns>.
func (w *nsWatch) readSlacker() error {
	if !w.watched["_leaderdata"] {
		lp := w.d.layout.Leader(w.ns)
		b, _, ch, err := w.d.conn().GetW(lp)
		if errors.Is(err, zk.ErrNoNode) {
			var ok bool
			if ok, _, ch, err = w.d.conn().ExistsW(lp); err == nil && ok {
				return w.readSlacker() // made meanwhile
			}
		}
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
	kids, ch, err := w.d.children(dir)
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
	if time.Now().Before(w.keepUntil) {
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

func sameServers(a, b *nsState) bool {
	return slices.EqualFunc(a.servers, b.servers, func(x, y Server) bool { return x.Addr == y.Addr && x.Leader == y.Leader })
}

// children lists the children of p and watches them; when p is missing,
// none, watching for p to be made.
func (d *zkDiscovery) children(p string) ([]string, <-chan zk.Event, error) {
	kids, _, ch, err := d.conn().ChildrenW(p)
	if errors.Is(err, zk.ErrNoNode) {
		var ok bool
		ok, _, ch, err = d.conn().ExistsW(p)
		if err == nil && ok {
			return d.children(p) // made meanwhile
		}
		return nil, ch, err
	}
	return kids, ch, err
}
