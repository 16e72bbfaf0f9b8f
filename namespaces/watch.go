package namespaces

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/slacker-lua/slacker-lua/engine"
)

// WatchMode says how a [Watcher] finds changes.
type WatchMode int

const (
	// WatchEvents finds changes through the operating system's file
	// events (inotify).
	WatchEvents WatchMode = iota
	// WatchPoll finds changes by looking through the folder every
	// WatchConfig.Poll, for filesystems where file events don't arrive,
	// such as network mounts.
	WatchPoll
	// WatchManual looks through the folder only when [Watcher.Rescan] is
	// called, and acts on all it finds at once: Debounce and Grace don't
	// apply. A file found changing while it was read is left for the next
	// Rescan.
	WatchManual
)

// WatchConfig configures a [Watcher]. Its zero value works.
type WatchConfig struct {
	// Mode says how changes are found. The zero value is WatchEvents.
	Mode WatchMode

	// Poll is how often WatchPoll looks through the folder. 0 means 2s.
	Poll time.Duration

	// Debounce is how long the folder must be quiet after a change before
	// the watcher reloads, so that a burst of writes is read once; a file
	// written less than Debounce ago is read once it is that old. 0 means
	// 10ms.
	Debounce time.Duration

	// MaxDelay bounds how long a stream of changes may put a look through
	// the folder off. 0 means 100ms, or Debounce if that is longer.
	MaxDelay time.Duration

	// Grace is how long a served file may be missing, or empty, before the
	// watcher takes it away: editors and tools often replace a file by
	// moving it away, or truncating it, and writing it again. Anything that
	// happens to the file starts its grace again. A new empty file is
	// served once it has been empty that long. 0 means 100ms.
	Grace time.Duration

	// Drain is how long a namespace whose file is gone (its grace over) is
	// served on, after a Leaving event says it goes, so that subscribers
	// who tell others where it is served, such as a cluster's members, can
	// take it out first. 0 means no drain: it is removed at once. With
	// WatchManual, there is no drain either.
	Drain time.Duration
}

// Defaults of WatchConfig.
const (
	DefaultPoll     = 2 * time.Second
	DefaultDebounce = 10 * time.Millisecond
	DefaultMaxDelay = 100 * time.Millisecond
	DefaultGrace    = 100 * time.Millisecond
)

// Validate reports the first invalid field of c, as [Registry.Watch]
// would.
func (c WatchConfig) Validate() error {
	_, err := c.withDefaults()
	return err
}

func (c WatchConfig) withDefaults() (WatchConfig, error) {
	switch {
	case c.Mode < WatchEvents || c.Mode > WatchManual:
		return c, fmt.Errorf("namespaces: WatchConfig.Mode %d is no WatchMode", c.Mode)
	case c.Poll < 0:
		return c, fmt.Errorf("namespaces: WatchConfig.Poll %v is negative", c.Poll)
	case c.Debounce < 0:
		return c, fmt.Errorf("namespaces: WatchConfig.Debounce %v is negative", c.Debounce)
	case c.MaxDelay < 0:
		return c, fmt.Errorf("namespaces: WatchConfig.MaxDelay %v is negative", c.MaxDelay)
	case c.Grace < 0:
		return c, fmt.Errorf("namespaces: WatchConfig.Grace %v is negative", c.Grace)
	case c.Drain < 0:
		return c, fmt.Errorf("namespaces: WatchConfig.Drain %v is negative", c.Drain)
	}
	if c.Poll == 0 {
		c.Poll = DefaultPoll
	}
	if c.Debounce == 0 {
		c.Debounce = DefaultDebounce
	}
	if c.MaxDelay == 0 {
		c.MaxDelay = max(DefaultMaxDelay, c.Debounce)
	}
	if c.Grace == 0 {
		c.Grace = DefaultGrace
	}
	return c, nil
}

// Watcher keeps a registry made by [Open] in step with its folder: it
// serves files as they are added, reloads them as they change and stops
// serving them as they go. Make one with [Registry.Watch].
//
// Each time the folder changes, the watcher looks through all of it, reads
// the namespace files and modules that changed (by size, times or
// identity), and acts on what differs, by content (see [Event.Hash]), from
// what is served:
//
//   - A new file is loaded and served; a changed one is compiled and loaded
//     in full, then swapped in at once. Calls already running finish on
//     the old version, later ones run on the new. A namespace that
//     required a module of LibDir that changed is loaded again too.
//   - A file that fails to load (a syntax error, an error while loading, a
//     name served by another file) leaves the version served before, if
//     any, serving. The error is logged with its file and line, and is in
//     [Registry.Failures] until the file is served or gone.
//   - A file that is gone stops being served, once it has been gone for
//     WatchConfig.Grace: later calls get not-found, running ones finish.
//     Files in a folder that can't be read are kept as they are, and so
//     is everything while the served folder itself is gone. A module is
//     given the same grace, and the same wait while it is being written.
//   - A file left unchanged is not loaded again, so the state of its
//     namespace survives.
//
// Hidden files and folders (".x"), editor backups ("x~", "#x#", ".swp")
// and files not ending in ".lua" are no namespaces; changes to them cost
// a look through the folder and nothing else. Folders and files reached
// through symbolic links are watched where they are, so a Kubernetes
// ConfigMap's "..data" link swapped to a new folder, a file linked from
// elsewhere, and a served folder that is itself a link moved to a new
// release are all followed.
//
// A file written in place is read once it has been left alone for
// WatchConfig.Debounce: a writer that pauses longer than that in the
// middle of a file may have the part it wrote read as a version. Tools
// that write over slow links should write a temporary file and rename it
// over the old one, as most editors, rsync and kubectl do.
type Watcher struct {
	r   *Registry
	cfg WatchConfig
	log *slog.Logger
	fsw *fsnotify.Watcher // nil unless WatchEvents

	rescan  chan chan error
	done    chan struct{} // closed by Close
	stopped chan struct{} // closed when the loop returns
	once    sync.Once

	// Owned by the loop.
	watched map[string]os.FileInfo // the folders watched, by absolute path
	files   map[string]*fileState  // by slash path under the folder, LibDir's too
	libs    map[string]string      // the modules of LibDir: absolute path -> hash
	held    map[string]bool        // the modules the last look held at their versions before (see readLibs)
	read    map[string]stamp       // the files read, by absolute path
	scanErr string                 // why the last look through the folder failed; "" if it did not
}

// stamp is what a file was when the watcher last read it.
type stamp struct {
	info   os.FileInfo
	readAt time.Time
	hash   string
}

// racy is how long after a file's last change a read must come for the
// file to count as unchanged while its size, times and identity stay the
// same. File clocks are coarse: a write in the same tick as the read
// before leaves the times as they were. The change time (see changeTime)
// can't be set by tools that restore modification times, as cp -p and
// unpacking an archive do.
const racy = time.Second

// fileState is what the watcher knows of a file: a namespace file, or a
// module of LibDir.
type fileState struct {
	failed string // the hash of the source that failed to load; "" if none
	// since is when the file was seen missing or empty, and nothing has
	// happened to it since; zero if neither. stamp is its modification time
	// then, when empty.
	since, stamp time.Time
	// leaving is when the namespace of the file, gone, was said to be
	// leaving (see WatchConfig.Drain); zero if it was not.
	leaving time.Time
}

// Watch starts watching the folder of a registry made by [Open], and
// first brings the registry in step with it. The watcher stops when it or
// the registry is closed. A registry has one watcher at most: Watch fails
// with [ErrWatched] for a registry that has one, and with ErrClosed once
// the registry is closed.
func (r *Registry) Watch(cfg WatchConfig) (*Watcher, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if r.dir == "" {
		return nil, errors.New("namespaces: Watch needs a registry made by Open")
	}
	w := newWatcher(r, cfg)
	if cfg.Mode == WatchEvents {
		if w.fsw, err = fsnotify.NewWatcher(); err != nil {
			return nil, fmt.Errorf("namespaces: watching %s: %w", r.dir, err)
		}
	}
	r.mu.Lock()
	switch {
	case r.closed:
		err = ErrClosed
	case r.watcher != nil:
		err = ErrWatched
	default:
		r.watcher = w
	}
	r.mu.Unlock()
	if err != nil {
		if w.fsw != nil {
			w.fsw.Close()
		}
		return nil, err
	}
	next, _ := w.sync(false) // an error is logged, and the next change tries again
	go w.loop(next)
	return w, nil
}

// newWatcher returns a watcher of r that watches nothing yet.
func newWatcher(r *Registry, cfg WatchConfig) *Watcher {
	// The first look tries again the files Open failed to load: what they
	// needed (a module, a namespace to call while loading) may be there
	// now. A failure found again the same is not reported again.
	w := &Watcher{
		r:       r,
		cfg:     cfg,
		log:     r.log,
		rescan:  make(chan chan error),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
		watched: make(map[string]os.FileInfo),
		files:   make(map[string]*fileState),
		read:    make(map[string]stamp),
		libs:    make(map[string]string),
	}
	// The modules are first taken to be the versions the namespaces
	// served were loaded with.
	for _, e := range r.snap.Load().ns {
		if e.lua != nil {
			for _, m := range e.lua.Requires() {
				w.libs[m.Path] = m.Hash
			}
		}
	}
	return w
}

// Close stops the watcher and waits for it to finish the reload it is
// making, if any. The registry keeps serving what it serves. Close may be
// called more than once.
func (w *Watcher) Close() {
	w.once.Do(func() {
		close(w.done)
		<-w.stopped
		w.r.mu.Lock()
		if w.r.watcher == w {
			w.r.watcher = nil
		}
		w.r.mu.Unlock()
	})
}

// Rescan looks through the whole folder now, and waits until it has acted
// on what it found, or ctx is done. Files that failed are tried again even
// if unchanged, and files are read however recently they were written;
// files missing or empty are still taken away only after their grace, and
// their drain. It
// returns the error that stopped it looking through the folder, if any,
// and ErrClosed once the watcher is closed.
func (w *Watcher) Rescan(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case w.rescan <- reply:
	case <-w.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-w.stopped:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// loop waits for changes and syncs. next, when not 0, is how soon a sync
// is due anyway.
func (w *Watcher) loop(next time.Duration) {
	defer close(w.stopped)
	var events <-chan fsnotify.Event
	var errs <-chan error
	if w.fsw != nil {
		defer w.fsw.Close()
		events, errs = w.fsw.Events, w.fsw.Errors
	}
	var tick <-chan time.Time
	if w.cfg.Mode == WatchPoll {
		t := time.NewTicker(w.cfg.Poll)
		defer t.Stop()
		tick = t.C
	}
	// One timer for the debounce and for the files waited on; due is when
	// it fires, zero when it is stopped.
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var due time.Time
	arm := func(at time.Time) {
		if due.IsZero() || at.Before(due) {
			timer.Reset(time.Until(at))
			due = at
		}
	}
	if next > 0 {
		arm(time.Now().Add(next))
	}
	var first time.Time // the first change not synced yet; zero if none
	for {
		var force bool
		var reply chan error
		select {
		case <-w.done:
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
				w.unwatch(ev.Name)
			}
			if !relevant(ev) {
				continue
			}
			now := time.Now()
			w.touched(ev.Name, now)
			if first.IsZero() {
				first = now
			}
			// Quiet for Debounce, but no later than MaxDelay after the
			// first change not synced yet.
			at := now.Add(w.cfg.Debounce)
			if limit := first.Add(w.cfg.MaxDelay); limit.Before(at) {
				at = limit
			}
			timer.Stop()
			due = time.Time{}
			arm(at)
			continue
		case err, ok := <-errs:
			if !ok {
				return
			}
			// Most likely the event queue overflowed: events were lost,
			// and a look through the folder finds what they said.
			w.log.Warn("watching the namespace folder", "dir", w.r.dir, "err", err)
		case <-tick:
		case <-timer.C:
			due = time.Time{}
		case reply = <-w.rescan:
			force = true
		}
		first = time.Time{}
		next, err := w.sync(force)
		if next > 0 {
			arm(time.Now().Add(next))
		}
		if reply != nil {
			reply <- err
		}
	}
}

// relevant reports whether ev may change what the folder serves: writes
// to files that aren't namespaces, and editor backups and swap files, do
// not.
func relevant(ev fsnotify.Event) bool {
	base := filepath.Base(ev.Name)
	switch {
	case strings.HasSuffix(base, "~"), strings.HasPrefix(base, "#") && strings.HasSuffix(base, "#"),
		strings.HasSuffix(base, ".swp"), strings.HasSuffix(base, ".swx"), base == "4913":
		return false
	case ev.Op == fsnotify.Write && (!strings.HasSuffix(base, ".lua") || strings.HasSuffix(base, TestSuffix)):
		return false
	}
	return true
}

// unwatch stops watching the folder at path, gone or moved away, and those
// under it: the next look through the folder watches what is there now,
// though a new folder may take the place, and even the inode, of the old.
func (w *Watcher) unwatch(path string) {
	for p := range w.watched {
		if p == path || strings.HasPrefix(p, path+string(filepath.Separator)) {
			_ = w.fsw.Remove(p) // fails when the folder is gone, which removed its watch
			delete(w.watched, p)
		}
	}
}

// touched starts again the grace of the file at path, if it is missing or
// empty: something happened to it.
func (w *Watcher) touched(path string, now time.Time) {
	if st := w.files[w.rel(path)]; st != nil && !st.since.IsZero() {
		st.since = now
	}
}

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
// the folder.
func (w *Watcher) sync(force bool) (next time.Duration, err error) {
	manual := w.cfg.Mode == WatchManual
	p := &pass{now: time.Now(), force: force || manual, pending: make(map[string]bool)}
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
		w.serve(p, name, byName[name], present, retry)
	}
	w.forget(t, present)
	if manual {
		return 0, nil // until the next Rescan
	}
	return p.next, nil
}

// closing reports whether Close was called.
func (w *Watcher) closing() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
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
	age := time.Since(c.mtime)
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

// serve acts on the files srcs that name the namespace name: it serves the
// one file of them if it differs from what is served, and reports a clash
// when there are more. retry tries files again that failed unchanged.
func (w *Watcher) serve(p *pass, name string, srcs []*source, present map[string]bool, retry bool) {
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
	start := time.Now()
	ns, err := r.load(s.rel, name, c.src)
	took := time.Since(start)
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
		"functions", len(ns.Functions()), "took", took.Round(time.Microsecond))
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
		w.log.Info("namespace leaving: its file is gone", "namespace", name, "file", rel, "drain", w.cfg.Drain)
	}
	if wait := w.cfg.Drain - p.now.Sub(st.leaving); wait > 0 {
		p.later(wait)
		return false
	}
	return true
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

// abs is the absolute path of the file rel under the folder.
func (w *Watcher) abs(rel string) string { return filepath.Join(w.r.dir, filepath.FromSlash(rel)) }

// rel is the slash path under the folder of the file at path.
func (w *Watcher) rel(path string) string {
	rel, err := filepath.Rel(w.r.dir, path)
	if err != nil {
		return path
	}
	return filepath.ToSlash(rel)
}

// grace is how long a file may be missing or empty before it is acted on.
func (w *Watcher) grace() time.Duration {
	if w.cfg.Mode == WatchManual {
		return 0
	}
	return w.cfg.Grace
}

func (w *Watcher) state(rel string) *fileState {
	st := w.files[rel]
	if st == nil {
		st = &fileState{}
		w.files[rel] = st
	}
	return st
}

// scan looks through the folder, watching the folders it finds and
// forgetting those gone. A folder replaced by another under the same path
// is watched anew; a folder reached by two paths is watched once. When it
// watches new folders, it looks again, so that what was written in them
// before they were watched is seen.
func (w *Watcher) scan() (*tree, error) {
	for {
		t, err := scan(w.r.dir, discard) // Open logged what it skips
		if err != nil || w.fsw == nil {
			return t, err
		}
		// The served folder may be a link to a folder swapped at each
		// release: watch the link's folder too.
		if li, err := os.Lstat(w.r.dir); err == nil && li.Mode()&os.ModeSymlink != 0 {
			parent := filepath.Dir(w.r.dir)
			if info, err := os.Stat(parent); err == nil {
				t.dirs = append(t.dirs, dir{parent, info})
			}
		}
		want := make(map[string]os.FileInfo, len(t.dirs))
		for _, d := range t.dirs {
			want[d.path] = d.info
		}
		for p, info := range w.watched {
			if cur, ok := want[p]; !ok || !os.SameFile(cur, info) {
				_ = w.fsw.Remove(p) // fails when the folder is gone, which removed its watch
				delete(w.watched, p)
			}
		}
		added := false
		for _, d := range t.dirs {
			if _, ok := w.watched[d.path]; ok {
				continue
			}
			if w.watching(d.info) {
				continue // by another path
			}
			if err := w.fsw.Add(d.path); err != nil {
				w.log.Warn("cannot watch a namespace folder", "dir", d.path, "err", err)
				continue
			}
			w.watched[d.path] = d.info
			added = true
		}
		if !added {
			return t, nil
		}
	}
}

// watching reports whether the folder info is watched, by any path.
func (w *Watcher) watching(info os.FileInfo) bool {
	for _, wi := range w.watched {
		if os.SameFile(wi, info) {
			return true
		}
	}
	return false
}

var discard = slog.New(slog.DiscardHandler)

// content is a file as Watcher.hash found it.
type content struct {
	hash    string
	src     []byte // nil when the file was not read
	size    int64
	mtime   time.Time
	changed bool // the file changed while it was read: the rest is not to be trusted
}

// hash returns the hash of the file at path. It reads the file, and
// returns its source, unless the file is as it was when last read (see
// racy) and force is false.
func (w *Watcher) hash(path string, force bool) (content, error) {
	before, err := os.Stat(path)
	if err != nil {
		delete(w.read, path)
		return content{}, err
	}
	c := content{size: before.Size(), mtime: before.ModTime()}
	if last, ok := w.read[path]; ok && !force && os.SameFile(last.info, before) &&
		last.info.Size() == before.Size() && last.info.ModTime().Equal(before.ModTime()) &&
		changeTime(last.info).Equal(changeTime(before)) && last.readAt.Sub(changeTime(before)) > racy {
		c.hash = last.hash
		return c, nil
	}
	readAt := time.Now()
	if c.src, err = os.ReadFile(path); err != nil {
		delete(w.read, path)
		return content{}, err
	}
	after, err := os.Stat(path)
	if err != nil {
		delete(w.read, path)
		return content{}, err
	}
	c.changed = !os.SameFile(before, after) || !before.ModTime().Equal(after.ModTime()) ||
		before.Size() != after.Size() || int64(len(c.src)) != after.Size()
	if c.changed {
		delete(w.read, path)
		return c, nil
	}
	c.hash = engine.Hash(c.src)
	w.read[path] = stamp{info: after, readAt: readAt, hash: c.hash}
	return c, nil
}

// modulesChanged reports whether a module ns required differs from its
// file now. Modules pending change nothing.
func (w *Watcher) modulesChanged(p *pass, ns *engine.Namespace) bool {
	for _, m := range ns.Requires() {
		if !p.pending[m.Path] && w.libs[m.Path] != m.Hash {
			return true
		}
	}
	return false
}

// short is a version as logs show it.
func short(hash string) string { return hash[:min(len(hash), 12)] }
