package namespaces

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
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

	// clock tells the time and makes the timers. nil means the real
	// clock; tests set a fake one.
	clock clock
}

// Defaults of WatchConfig.
const (
	DefaultPoll     = 2 * time.Second
	DefaultDebounce = 10 * time.Millisecond
	DefaultMaxDelay = 100 * time.Millisecond
	DefaultGrace    = 100 * time.Millisecond
)

// Validate reports every field of c that is out of its range.
func (c WatchConfig) Validate() error {
	var errs []error
	if c.Mode < WatchEvents || c.Mode > WatchManual {
		errs = append(errs, fmt.Errorf("namespaces: WatchConfig.Mode %d is no WatchMode", c.Mode))
	}
	for _, d := range []struct {
		field string
		v     time.Duration
	}{{"Poll", c.Poll}, {"Debounce", c.Debounce}, {"MaxDelay", c.MaxDelay}, {"Grace", c.Grace}, {"Drain", c.Drain}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("namespaces: WatchConfig.%s %v is negative", d.field, d.v))
		}
	}
	return errors.Join(errs...)
}

// withDefaults returns c with its zero fields set to their defaults.
func (c WatchConfig) withDefaults() WatchConfig {
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
	if c.clock == nil {
		c.clock = realClock{}
	}
	return c
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
	clk clock // cfg.clock
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
//
// ctx bounds the first look, which may load files: once it is done, Watch
// stops, even in the middle of a file's top level, and returns an error
// wrapping ctx.Err(), with no watcher; the namespaces the look served
// before stay served. ctx does not bound the watcher once Watch returns.
func (r *Registry) Watch(ctx context.Context, cfg WatchConfig) (*Watcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if r.dir == "" {
		return nil, errors.New("namespaces: Watch needs a registry made by Open")
	}
	w := newWatcher(r, cfg)
	var err error
	if cfg.Mode == WatchEvents {
		if w.fsw, err = fsnotify.NewWatcher(); err != nil {
			return nil, fmt.Errorf("watching %s: %w", r.dir, err)
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
	next, _ := w.sync(ctx, false) // an error looking is logged, and the next change tries again
	if ctx.Err() != nil {
		r.mu.Lock()
		if r.watcher == w {
			r.watcher = nil
		}
		r.mu.Unlock()
		if w.fsw != nil {
			w.fsw.Close()
		}
		return nil, fmt.Errorf("watching %s: %w", r.dir, ctx.Err())
	}
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
		clk:     cfg.clock,
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

// closing reports whether Close was called.
func (w *Watcher) closing() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
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

// short is a version as logs show it.
func short(hash string) string { return hash[:min(len(hash), 12)] }
