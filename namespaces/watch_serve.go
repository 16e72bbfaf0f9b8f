package namespaces

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
)

// serve acts on the files srcs that name the namespace name: it serves the
// one file of them if it differs from what is served, and reports a clash
// when there are more. retry tries files again that failed unchanged. A
// load stopped by ctx changes nothing.
func (w *Watcher) serve(ctx context.Context, p *pass, name string, srcs []*source, present map[string]bool, retry bool) {
	r := w.r
	cur := r.snap.Load().ns[name]
	if len(srcs) > 1 {
		// The file served keeps serving, if one of them is.
		paths := make([]string, len(srcs))
		var keep *source
		for i, s := range srcs {
			paths[i] = s.rel
			if cur != nil && cur.file == s.rel {
				keep = s
			}
		}
		slices.Sort(paths)
		for _, s := range srcs {
			if s != keep {
				r.reportFailure(Failure{Path: s.rel, Name: name, Hash: s.hash, Err: &ClashError{Name: name, Paths: paths}}, 0)
			}
		}
		if keep == nil {
			return
		}
		srcs = []*source{keep}
	}
	s, st := srcs[0], w.state(srcs[0].rel)
	if cur != nil && cur.file == s.rel && cur.hash() == s.hash && !w.modulesChanged(p, cur.lua) {
		if r.clearFailure(s.rel) {
			w.log.Info("namespace file back to the version served", "namespace", name, "file", s.rel, "version", short(s.hash))
		}
		st.failed = ""
		return
	}
	if cur != nil && cur.file != "" && cur.file != s.rel && !present[cur.file] {
		return // served from a file gone, in its grace: s takes over once it is retired
	}
	if err := r.clash(name, s.rel); err != nil {
		r.reportFailure(Failure{Path: s.rel, Name: name, Hash: s.hash, Err: err}, 0)
		return
	}
	if st.failed == s.hash && !retry {
		return
	}

	// Read it again, to load it: if it changed since it settled, it is
	// being written, and it is loaded once it settles again.
	c, err := w.hash(w.abs(s.rel), true)
	if err != nil || c.changed || c.hash != s.hash {
		p.later(w.cfg.Debounce)
		return
	}
	start := time.Now() // a measure of the work, on the real clock
	ns, err := r.load(ctx, s.rel, name, c.src)
	took := time.Since(start)
	if err != nil && ctx.Err() != nil {
		return
	}
	if err != nil {
		st.failed = c.hash
		r.reportFailure(Failure{Path: s.rel, Name: name, Hash: c.hash, Err: err}, took)
		return
	}
	st.failed = ""
	old, err := r.putFile(name, s.rel, fileEntry(ns, s.rel), took)
	if err != nil {
		ns.Close()
		if !errors.Is(err, ErrClosed) {
			r.reportFailure(Failure{Path: s.rel, Name: name, Hash: c.hash, Err: err}, took)
		}
		return
	}
	msg := "namespace loaded"
	if old != nil {
		old.close()
		msg = "namespace reloaded"
	}
	w.log.Info(msg, "namespace", name, "file", s.rel, "version", short(c.hash),
		"functions", len(ns.Functions()), "took", took.Round(time.Microsecond).String())
}

// retire stops serving the files that are gone, and forgets their
// failures, once they have been gone for their grace (and drained: see
// WatchConfig.Drain). Files under folders that could not be read count as
// there; so do the failures of files in the folder that can't be
// namespaces (t.bad), such as broken links. A namespace leaving whose file
// is there again is kept.
func (w *Watcher) retire(t *tree, present map[string]bool, byName map[string][]*source, p *pass) {
	r := w.r
	there := func(rel string) bool {
		return present[rel] || slices.ContainsFunc(t.unreadable, func(dir string) bool {
			return strings.HasPrefix(rel, dir+"/")
		})
	}
	bad := func(rel string) bool {
		return slices.ContainsFunc(t.bad, func(f Failure) bool { return f.Path == rel })
	}
	served := r.fileEntries()
	var gone []string
	for rel, e := range served {
		if !there(rel) {
			gone = append(gone, rel)
			continue
		}
		if st := w.files[rel]; st != nil && !st.leaving.IsZero() {
			st.leaving = time.Time{}
			r.announce(Event{Kind: Kept, Namespace: e.lua.Name(), Path: rel, Hash: e.hash()})
			w.log.Info("namespace kept: its file is back", "namespace", e.lua.Name(), "file", rel)
		}
	}
	for _, f := range r.Failures() {
		if !there(f.Path) && !bad(f.Path) && served[f.Path] == nil {
			gone = append(gone, f.Path)
		}
	}
	slices.Sort(gone)
	for _, rel := range gone {
		if w.closing() || !w.gone(p, rel) {
			continue
		}
		if e := served[rel]; e != nil {
			name := e.lua.Name()
			// A file that takes the namespace over is served at once, in
			// this look: no drain.
			next := byName[name]
			takeover := len(next) == 1 && next[0].rel != rel
			if !takeover && !w.drained(p, name, rel, e) {
				continue
			}
			if old, _ := r.putFile(name, rel, nil, 0); old != nil {
				old.close()
				w.log.Info("namespace removed", "namespace", name, "file", rel)
			}
			w.state(rel).leaving = time.Time{}
		}
		if !bad(rel) {
			r.clearFailure(rel)
			delete(w.files, rel)
		}
	}
}

// drained reports whether the namespace name, served from the file rel
// that is gone, has been drained: said to be leaving for WatchConfig.Drain.
// It says so first, and asks for a look at the end of the drain.
func (w *Watcher) drained(p *pass, name, rel string, e *entry) bool {
	if w.cfg.Drain == 0 || w.cfg.Mode == WatchManual {
		return true
	}
	st := w.state(rel)
	if st.leaving.IsZero() {
		st.leaving = p.now
		w.r.announce(Event{Kind: Leaving, Namespace: name, Path: rel, Hash: e.hash()})
		w.log.Info("namespace leaving: its file is gone", "namespace", name, "file", rel, "drain", w.cfg.Drain.String())
	}
	if wait := w.cfg.Drain - p.now.Sub(st.leaving); wait > 0 {
		p.later(wait)
		return false
	}
	return true
}
