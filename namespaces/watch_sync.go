package namespaces

import (
	"context"
	"errors"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"time"
)

// pass is one look through the folder.
type pass struct {
	now     time.Time
	force   bool            // see sync
	next    time.Duration   // how soon to look again; 0 for not
	pending map[string]bool // modules seen for the first time, not settled yet
}

// later asks for another look in d.
func (p *pass) later(d time.Duration) {
	d = max(d, time.Millisecond)
	if p.next == 0 || d < p.next {
		p.next = d
	}
}

// sync brings the registry in step with the folder. force tries failed
// files again even if unchanged, and reads files however recently they
// were written. It returns how soon it must run again, to act on files
// missing, empty or written just now, or on a folder it could not look
// through; 0 if it need not. Its error is why it could not look through
// the folder, or ctx.Err() once ctx is done: it stops then, even in the
// middle of loading a file.
func (w *Watcher) sync(ctx context.Context, force bool) (next time.Duration, err error) {
	manual := w.cfg.Mode == WatchManual
	p := &pass{now: w.clk.Now(), force: force || manual, pending: make(map[string]bool)}
	t, err := w.scan()
	if err != nil {
		if msg := err.Error(); msg != w.scanErr {
			w.log.Error("cannot look through the namespace folder; serving what was served", "dir", w.r.dir, "err", err)
			w.scanErr = msg
		}
		if manual {
			return 0, err
		}
		return w.cfg.Grace, err // the folder may be on its way back
	}
	if w.scanErr != "" {
		w.log.Info("looking through the namespace folder again", "dir", w.r.dir)
		w.scanErr = ""
	}
	retry := w.readLibs(t, p) || p.force
	for _, f := range t.bad {
		w.r.reportFailure(f, 0)
		w.state(f.Path).failed = ""
	}
	byName, present := w.readFiles(t, p)
	// Files gone first: a file that takes a namespace over from a file
	// gone is served in the same look as the other is retired.
	w.retire(t, present, byName, p)
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		if w.closing() {
			return 0, nil
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		w.serve(ctx, p, name, byName[name], present, retry)
	}
	w.forget(t, present)
	if manual {
		return 0, nil // until the next Rescan
	}
	return p.next, nil
}

// settled hashes the file at path, rel under the folder, and reports
// whether it is settled enough to act on: written at least Debounce ago
// (unless the pass is forced), not changing while read, and not empty, or
// empty for its grace. If it is not, it asks for a look once it may be.
func (w *Watcher) settled(p *pass, path, rel string) (c content, ok bool, err error) {
	st := w.state(rel)
	c, err = w.hash(path, p.force)
	// A modification time in the future (another machine's clock) tells
	// nothing.
	age := w.clk.Now().Sub(c.mtime)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		p.later(w.cfg.Debounce) // gone since the folder was listed
		return c, false, nil
	case err != nil:
		return c, false, err
	case c.changed:
		p.later(w.cfg.Debounce)
		return c, false, nil
	case !p.force && age >= 0 && age < w.cfg.Debounce:
		p.later(w.cfg.Debounce - age)
		return c, false, nil
	case c.size == 0:
		if st.since.IsZero() || !st.stamp.Equal(c.mtime) {
			st.since, st.stamp = p.now, c.mtime
		}
		if wait := w.grace() - p.now.Sub(st.since); wait > 0 {
			p.later(wait)
			return c, false, nil
		}
		return c, true, nil
	}
	st.since = time.Time{}
	return c, true, nil
}

// gone reports whether the file rel, no longer in the folder, has been
// gone for its grace. If not, it asks for a look once it has.
func (w *Watcher) gone(p *pass, rel string) bool {
	st := w.state(rel)
	if st.since.IsZero() || !st.stamp.IsZero() { // the clock counted how long it was empty
		st.since, st.stamp = p.now, time.Time{}
	}
	if wait := w.grace() - p.now.Sub(st.since); wait > 0 {
		p.later(wait)
		return false
	}
	return true
}

// readLibs hashes the modules of LibDir, and reports whether any changed
// since the last look (or, at the first, since the served namespaces
// required them). A module being
// written, missing or empty for less than its grace, unreadable, or in a
// folder that can't be read is held at its version before; one not
// settled at first sight is pending, and changes nothing yet. A module
// held that settles or goes counts as a change, even at the version it
// was held at: namespaces may have failed without it meanwhile.
func (w *Watcher) readLibs(t *tree, p *pass) (changed bool) {
	libs := make(map[string]string, len(t.libs))
	held := make(map[string]bool)
	hold := func(path string) {
		if h, had := w.libs[path]; had {
			libs[path] = h
			held[path] = true
		} else {
			p.pending[path] = true
		}
	}
	for _, path := range t.libs {
		if c, ok, _ := w.settled(p, path, w.rel(path)); ok {
			libs[path] = c.hash
		} else {
			hold(path) // an error too: it is the namespaces' to report
		}
	}
	for path := range w.libs {
		if _, found := libs[path]; found || slices.Contains(t.libs, path) {
			continue
		}
		rel := w.rel(path)
		if slices.ContainsFunc(t.unreadable, func(dir string) bool { return strings.HasPrefix(rel, dir+"/") }) || !w.gone(p, rel) {
			hold(path)
		}
	}
	changed = !maps.Equal(libs, w.libs)
	for path := range w.held {
		changed = changed || !held[path]
	}
	w.libs, w.held = libs, held
	return changed
}

// source is a namespace file as sync found it.
type source struct {
	file
	hash string
}

// readFiles hashes the namespace files of t and gathers the settled ones
// by namespace. present holds every file found.
func (w *Watcher) readFiles(t *tree, p *pass) (byName map[string][]*source, present map[string]bool) {
	byName = make(map[string][]*source)
	present = make(map[string]bool, len(t.files))
	for _, f := range t.files {
		present[f.rel] = true
		c, ok, err := w.settled(p, w.abs(f.rel), f.rel)
		if err != nil {
			w.state(f.rel).failed = "" // to be loaded again once it can be read
			w.r.reportFailure(newFailure(f.rel, f.name, "", err), 0)
			continue
		}
		if ok {
			byName[f.name] = append(byName[f.name], &source{file: f, hash: c.hash})
		}
	}
	return byName, present
}

// forget drops what the watcher knows of files no longer in the folder,
// served or failed.
func (w *Watcher) forget(t *tree, present map[string]bool) {
	keep := make(map[string]bool)
	for rel := range present {
		keep[rel] = true
	}
	for rel := range w.r.fileEntries() {
		keep[rel] = true
	}
	for _, f := range w.r.Failures() {
		keep[f.Path] = true
	}
	for _, path := range t.libs {
		keep[w.rel(path)] = true
	}
	for path := range w.libs {
		keep[w.rel(path)] = true
	}
	for rel := range w.files {
		if !keep[rel] {
			delete(w.files, rel)
		}
	}
	for path := range w.read {
		if !keep[w.rel(path)] {
			delete(w.read, path)
		}
	}
}
