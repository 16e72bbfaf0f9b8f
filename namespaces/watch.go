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

// WatchConfig configures a [Watcher]. Its zero value works.
type WatchConfig struct {
	// Poll, when not 0, makes the watcher look for changes by scanning the
	// folder every Poll, for filesystems where the operating system's file
	// events (inotify) don't work, such as network mounts. 0 means file
	// events.
	Poll time.Duration

	// Debounce is how long the folder must be quiet after a change before
	// the watcher reloads, so that a burst of writes is read once. 0 means
	// 10ms.
	Debounce time.Duration

	// MaxDelay bounds how long a stream of changes may put a reload off;
	// a file written in the last Debounce is looked at again later all the
	// same. 0 means 100ms, or Debounce if that is longer.
	MaxDelay time.Duration

	// Grace is how long a served file may be missing, or empty, before the
	// watcher takes it away: editors and tools often replace a file by
	// moving it away, or truncating it, and writing it again. A new empty
	// file is served once it has been empty that long. 0 means 100ms.
	Grace time.Duration
}

// Defaults of WatchConfig.
const (
	DefaultDebounce = 10 * time.Millisecond
	DefaultMaxDelay = 100 * time.Millisecond
	DefaultGrace    = 100 * time.Millisecond
)

func (c WatchConfig) withDefaults() (WatchConfig, error) {
	switch {
	case c.Poll < 0:
		return c, fmt.Errorf("namespaces: WatchConfig.Poll %v is negative", c.Poll)
	case c.Debounce < 0:
		return c, fmt.Errorf("namespaces: WatchConfig.Debounce %v is negative", c.Debounce)
	case c.MaxDelay < 0:
		return c, fmt.Errorf("namespaces: WatchConfig.MaxDelay %v is negative", c.MaxDelay)
	case c.Grace < 0:
		return c, fmt.Errorf("namespaces: WatchConfig.Grace %v is negative", c.Grace)
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
// every namespace file and module, and acts on what differs, by content
// (see [Event.Hash]) from what is served:
//
//   - A new file is loaded and served; a changed one is compiled and loaded
//     in full, then swapped in at once. Calls already running finish on
//     the old version, later ones run on the new. A namespace that
//     requires a module of LibDir that changed is loaded again too.
//   - A file that fails to load (a syntax error, an error while loading, a
//     name served by another file) leaves the version served before, if
//     any, serving. The error is logged with its file and line, and is in
//     [Registry.Failures] until the file is served or gone.
//   - A file that is gone stops being served: later calls get not-found,
//     running ones finish.
//   - A file left unchanged is not loaded again, so the state of its
//     namespace survives.
//
// Hidden files and folders (".x"), editor backups ("x~", "#x#"), and
// files not ending in ".lua" are no namespaces; changes to them cost a
// look through the folder and nothing else. Changes reached through
// symbolic links count, such as a Kubernetes ConfigMap's "..data" link
// swapped to a new folder.
type Watcher struct {
	r   *Registry
	cfg WatchConfig
	log *slog.Logger
	fsw *fsnotify.Watcher // nil when polling

	rescan  chan chan struct{}
	done    chan struct{} // closed by Close
	stopped chan struct{} // closed when the loop returns
	once    sync.Once

	// Owned by the loop.
	watched map[string]bool       // the folders watched, absolute paths
	files   map[string]*fileState // by slash path under the folder
	libs    map[string]string     // the modules of LibDir: absolute path -> hash
}

// fileState is what the watcher knows of a namespace file.
type fileState struct {
	failed string // the hash of the source that failed to load; "" if none
	// since is when the file was seen missing or empty, and nothing
	// happened to it since; zero if neither. stamp is its modification time
	// then, when empty.
	since, stamp time.Time
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
	w := &Watcher{
		r:       r,
		cfg:     cfg,
		log:     r.log,
		rescan:  make(chan chan struct{}),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
		watched: make(map[string]bool),
		files:   make(map[string]*fileState),
	}
	if cfg.Poll == 0 {
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
	next := w.sync(false)
	go w.loop(next)
	return w, nil
}

// Close stops the watcher and waits for it to finish the reload it is
// making, if any. The registry keeps serving what it serves. Close may be
// called more than once.
func (w *Watcher) Close() {
	w.once.Do(func() {
		close(w.done)
		<-w.stopped
		w.detach()
	})
}

// detach forgets w as its registry's watcher.
func (w *Watcher) detach() {
	w.r.mu.Lock()
	if w.r.watcher == w {
		w.r.watcher = nil
	}
	w.r.mu.Unlock()
}

// Rescan looks through the whole folder now, as if every file had changed,
// and returns once the registry is in step with it, or ctx is done. Files
// that failed are tried again even if unchanged. It returns ErrClosed once
// the watcher is closed.
func (w *Watcher) Rescan(ctx context.Context) error {
	reply := make(chan struct{})
	select {
	case w.rescan <- reply:
	case <-w.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-reply:
		return nil
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
	if w.cfg.Poll > 0 {
		t := time.NewTicker(w.cfg.Poll)
		defer t.Stop()
		tick = t.C
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var due time.Time   // when the timer fires; zero when it is stopped
	var first time.Time // the first change not synced yet; zero if none
	arm := func(at time.Time) {
		if due.IsZero() || at.Before(due) {
			timer.Reset(time.Until(at))
			due = at
		}
	}
	if next > 0 {
		arm(time.Now().Add(next))
	}
	for {
		var force bool
		var reply chan struct{}
		select {
		case <-w.done:
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			if !relevant(ev) {
				continue
			}
			now := time.Now()
			// Whatever happened to a missing or empty file, its grace
			// starts again.
			if rel, err := filepath.Rel(w.r.dir, ev.Name); err == nil {
				if st := w.files[filepath.ToSlash(rel)]; st != nil && !st.since.IsZero() {
					st.since = now
				}
			}
			if first.IsZero() {
				first = now
			}
			// Quiet for Debounce, but no later than MaxDelay after the
			// first change not synced yet.
			timer.Stop()
			due = time.Time{}
			at := now.Add(w.cfg.Debounce)
			if limit := first.Add(w.cfg.MaxDelay); limit.Before(at) {
				at = limit
			}
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
		if next := w.sync(force); next > 0 {
			arm(time.Now().Add(next))
		}
		if reply != nil {
			close(reply)
		}
	}
}

// relevant reports whether ev may change what the folder serves. Writes to
// files that aren't namespaces, editor backups and swap files, and changes
// of mode are not.
func relevant(ev fsnotify.Event) bool {
	base := filepath.Base(ev.Name)
	switch {
	case ev.Op == fsnotify.Chmod:
		return false
	case strings.HasSuffix(base, "~"), strings.HasPrefix(base, "#") && strings.HasSuffix(base, "#"),
		strings.HasSuffix(base, ".swp"), strings.HasSuffix(base, ".swx"), base == "4913":
		return false
	case ev.Op == fsnotify.Write && !strings.HasSuffix(base, ".lua"):
		return false
	}
	return true
}

// source is a namespace file as sync read it.
type source struct {
	file
	src  []byte
	hash string
}

// sync brings the registry in step with the folder. force tries failed
// files again even if unchanged, and reads files however recently they
// were written. It returns how soon it must run again to
// act on a file that is missing or empty, or that changed while it was
// read; 0 if it need not.
func (w *Watcher) sync(force bool) (next time.Duration) {
	r := w.r
	now := time.Now()
	t, err := w.scan()
	if err != nil {
		w.log.Error("cannot look through the namespace folder", "dir", r.dir, "err", err)
		return 0
	}
	soon := func(d time.Duration) {
		if next == 0 || d < next {
			next = max(d, time.Millisecond)
		}
	}

	libs := make(map[string]string, len(t.libs))
	for _, p := range t.libs {
		if src, err := os.ReadFile(p); err == nil {
			libs[p] = engine.Hash(src)
		}
	}
	libsChanged := w.libs != nil && !maps.Equal(libs, w.libs)
	w.libs = libs

	for _, f := range t.bad {
		if r.setFailure(f, 0) {
			w.log.Error("cannot serve namespace file", "file", f.Path, "err", f.Err)
		}
		delete(w.files, f.Path)
	}

	// Read the files, and gather them by namespace.
	present := make(map[string]bool, len(t.files))
	byName := make(map[string][]*source)
	var names []string
	for _, f := range t.files {
		present[f.rel] = true
		st := w.state(f.rel)
		src, mtime, err := readStable(filepath.Join(r.dir, filepath.FromSlash(f.rel)))
		// A file written less than Debounce ago may be being written still
		// (a stream of changes, a write(2) caught half done): look again
		// once it is quiet. A modification time in the future (another
		// machine's clock) tells nothing.
		age := now.Sub(mtime)
		switch {
		case err != nil:
			var pe *fs.PathError
			if errors.As(err, &pe) {
				pe.Path = f.rel // where the server keeps its files is its own business
			}
			if r.setFailure(Failure{Path: f.rel, Name: f.name, Err: err}, 0) {
				w.log.Error("cannot serve namespace file", "file", f.rel, "namespace", f.name, "err", err)
			}
			continue
		case src == nil:
			soon(w.cfg.Debounce) // it changed while read
			continue
		case !force && age >= 0 && age < w.cfg.Debounce:
			soon(w.cfg.Debounce - age)
			continue
		case len(src) == 0:
			if st.since.IsZero() || !st.stamp.Equal(mtime) {
				st.since, st.stamp = now, mtime
			}
			if wait := w.cfg.Grace - now.Sub(st.since); wait > 0 {
				soon(wait)
				continue
			}
		default:
			st.since = time.Time{}
		}
		if byName[f.name] == nil {
			names = append(names, f.name)
		}
		byName[f.name] = append(byName[f.name], &source{file: f, src: src, hash: engine.Hash(src)})
	}

	cur := r.snap.Load().ns
	for _, name := range names {
		srcs := byName[name]
		if len(srcs) > 1 {
			// A clash: the file served keeps serving, if one is.
			paths := make([]string, len(srcs))
			var keep *source
			for i, s := range srcs {
				paths[i] = s.rel
				if e := cur[name]; e != nil && e.file == s.rel {
					keep = s
				}
			}
			slices.Sort(paths)
			for _, s := range srcs {
				if s != keep {
					w.failed(s, &ClashError{Name: name, Paths: paths}, 0)
				}
			}
			if keep == nil {
				continue
			}
			srcs = []*source{keep}
		}
		w.update(srcs[0], cur[name], present, force || libsChanged, libs)
	}

	// Files served but gone, and failures of files gone.
	for rel, e := range r.fileEntries() {
		if present[rel] {
			continue
		}
		st := w.state(rel)
		if st.since.IsZero() {
			st.since = now
		}
		if wait := w.cfg.Grace - now.Sub(st.since); wait > 0 {
			soon(wait)
			continue
		}
		name := e.lua.Name()
		if old, _ := r.putFile(name, rel, nil, 0, nil); old != nil {
			old.close()
			w.log.Info("namespace removed", "namespace", name, "file", rel)
		}
		delete(w.files, rel)
	}
	for _, f := range r.Failures() {
		if !present[f.Path] && !slices.ContainsFunc(t.bad, func(b Failure) bool { return b.Path == f.Path }) {
			r.clearFailure(f.Path)
			delete(w.files, f.Path)
		}
	}
	return next
}

// update serves the source s as its namespace if it differs from what is
// served, the entry cur (nil if none). retry tries s again even if it
// failed unchanged; libs are the modules' hashes.
func (w *Watcher) update(s *source, cur *entry, present map[string]bool, retry bool, libs map[string]string) {
	r := w.r
	st := w.state(s.rel)
	if cur != nil && cur.file == s.rel {
		if cur.hash() == s.hash && !modulesChanged(cur.lua, libs) {
			if r.clearFailure(s.rel) {
				w.log.Info("namespace file restored", "namespace", s.name, "file", s.rel, "version", short(s.hash))
			}
			st.failed = ""
			return
		}
	}
	if cur != nil && cur.file != s.rel && (cur.file == "" || present[cur.file]) {
		paths := []string{s.rel}
		if cur.file != "" {
			paths = append(paths, cur.file)
			slices.Sort(paths)
		}
		w.failed(s, &ClashError{Name: s.name, Paths: paths}, 0)
		return
	}
	if st.failed == s.hash && !retry {
		return
	}

	start := time.Now()
	ns, err := r.load(s.rel, s.name, s.src)
	took := time.Since(start)
	if err != nil {
		st.failed = s.hash
		w.failed(s, err, took)
		return
	}
	e := fileEntry(ns, s.rel)
	old, err := r.putFile(s.name, s.rel, e, took, present)
	if err != nil {
		ns.Close()
		if !errors.Is(err, ErrClosed) {
			w.failed(s, err, took)
		}
		return
	}
	st.failed = ""
	msg := "namespace loaded"
	if old != nil {
		old.close()
		msg = "namespace reloaded"
	}
	w.log.Info(msg, "namespace", s.name, "file", s.rel, "version", short(s.hash),
		"functions", len(ns.Functions()), "took", took.Round(time.Microsecond))
}

// failed records that s can't be served, and logs it unless that was known.
func (w *Watcher) failed(s *source, err error, took time.Duration) {
	if w.r.setFailure(Failure{Path: s.rel, Name: s.name, Hash: s.hash, Err: err}, took) {
		attrs := []any{"file", s.rel, "namespace", s.name, "version", short(s.hash), "err", err}
		if e := w.r.snap.Load().ns[s.name]; e != nil && e.file == s.rel {
			attrs = append(attrs, "serving", short(e.hash()))
		}
		w.log.Error("cannot serve namespace file", attrs...)
	}
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
// forgetting those gone. When it finds new folders, it looks again, so
// that what was written in them before they were watched is seen.
func (w *Watcher) scan() (*tree, error) {
	for {
		t, err := scan(w.r.dir, discard) // Open logged what it skips
		if err != nil || w.fsw == nil {
			return t, err
		}
		dirs := make(map[string]bool, len(t.dirs))
		added := false
		for _, d := range t.dirs {
			dirs[d] = true
			if w.watched[d] {
				continue
			}
			if err := w.fsw.Add(d); err != nil {
				w.log.Warn("cannot watch a namespace folder", "dir", d, "err", err)
				continue
			}
			w.watched[d] = true
			added = true
		}
		for d := range w.watched {
			if !dirs[d] {
				_ = w.fsw.Remove(d) // fails when the folder is gone, which removed its watch
				delete(w.watched, d)
			}
		}
		if !added {
			return t, nil
		}
	}
}

var discard = slog.New(slog.DiscardHandler)

// readStable reads the file at path, and returns its modification time.
// src is nil, with no error, when the file changed while it was read.
func readStable(path string) (src []byte, mtime time.Time, err error) {
	before, err := os.Stat(path)
	if err != nil {
		return nil, mtime, err
	}
	if src, err = os.ReadFile(path); err != nil {
		return nil, mtime, err
	}
	after, err := os.Stat(path)
	if err != nil {
		return nil, mtime, err
	}
	if !os.SameFile(before, after) || !before.ModTime().Equal(after.ModTime()) ||
		before.Size() != after.Size() || int64(len(src)) != after.Size() {
		return nil, mtime, nil
	}
	if src == nil {
		src = []byte{}
	}
	return src, after.ModTime(), nil
}

// modulesChanged reports whether a module ns required differs from its
// file in libs now.
func modulesChanged(ns *engine.Namespace, libs map[string]string) bool {
	for _, m := range ns.Requires() {
		if libs[m.Path] != m.Hash {
			return true
		}
	}
	return false
}

// short is a version as logs show it.
func short(hash string) string { return hash[:min(len(hash), 12)] }
