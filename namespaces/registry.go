package namespaces

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slacker-lua/slacker-lua/engine"
	"github.com/slacker-lua/slacker-lua/transport"
)

// Config configures a registry. Its zero value works.
type Config struct {
	// Engine configures the namespaces Open loads. Open sets its LibPath to
	// DIR/_lib, and its Caller, when nil, to the registry, so that Lua's
	// slacker.call reaches the namespaces of this registry. A nil
	// Engine.Logger means Logger.
	Engine engine.Config

	// Logger receives the files Open skips or fails to load. nil discards
	// them.
	Logger *slog.Logger
}

// withDefaults returns c with its zero fields set to their defaults. It
// leaves Engine's own to engine.Load, which validates them: Config has no
// field of its own to validate.
func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Engine.Logger == nil {
		c.Engine.Logger = c.Logger
	}
	return c
}

// Failure is a namespace file the registry could not serve, when Open
// loaded the folder or when a [Watcher] reloaded the file.
type Failure struct {
	Path string // the file, or a folder that can't be read: a slash path under the folder
	Name string // the namespace it would serve; "" when its name is invalid, and for a folder
	Hash string // the version that failed, as Event.Hash; "" when the file could not be read
	// Err says why: a *engine.LoadError (file and line), an error wrapping
	// ErrBadName, a *ClashError, or an I/O error.
	Err error
}

// Registry holds the namespaces a server serves, Lua and Go, and dispatches
// calls to them: it is a [transport.Handler], and the [engine.Caller] of the
// namespaces Open loads. Create it with [New] or [Open]. Its methods are safe
// for concurrent use; namespaces may be added, replaced and removed while
// calls run.
type Registry struct {
	dir string
	cfg Config
	log *slog.Logger

	// snap is what calls read: an immutable snapshot, replaced whole.
	snap atomic.Pointer[snapshot]

	mu       sync.Mutex // serializes changes to snap and the fields below
	closed   bool
	failures []Failure                  // one per path, in the order found
	subs     map[*Subscription]struct{} // see Subscribe
	leaving  map[string]bool            // the namespaces said to be Leaving, and not Kept or removed since
	watcher  *Watcher                   // the folder's watcher, if any
}

var (
	_ transport.Finder = (*Registry)(nil)
	_ engine.Caller    = (*Registry)(nil)
)

// snapshot is the registry's contents at one moment. It is never modified
// once published: changes build a new one.
type snapshot struct {
	ns    map[string]*entry // by namespace name
	names []string          // every "namespace/function", sorted
}

// entry is one served namespace: a Lua namespace, or Go functions.
type entry struct {
	lua  *engine.Namespace             // nil for a Go namespace
	fns  map[string]*GoFunction        // a Go namespace's functions by name
	meta map[string]transport.FuncMeta // by function name
	file string                        // the file under the folder it was loaded from; "" when set by Set or SetGo
}

func newSnapshot(ns map[string]*entry) *snapshot {
	s := &snapshot{ns: ns}
	for _, e := range ns {
		for _, m := range e.meta {
			s.names = append(s.names, m.Name)
		}
	}
	slices.Sort(s.names)
	return s
}

// New returns an empty registry, for servers of Go functions and for
// namespaces loaded by hand and served with [Registry.Set]; such namespaces
// reach the registry with slacker.call when loaded with the registry as
// their engine.Config.Caller. cfg.Engine is used by Open only.
func New(cfg Config) *Registry {
	cfg = cfg.withDefaults()
	r := &Registry{cfg: cfg, log: cfg.Logger}
	if r.cfg.Engine.Caller == nil {
		r.cfg.Engine.Caller = r
	}
	r.snap.Store(newSnapshot(map[string]*entry{}))
	return r
}

// Dir returns the folder Open serves, as an absolute path; "" for a
// registry made by New.
func (r *Registry) Dir() string { return r.dir }

// Failures returns the files of the folder whose version on disk failed,
// one per file, in the order they failed; the version served before, if
// any, is still served. A [Watcher] keeps the list current: a file's
// failure is replaced when it fails again, and cleared once it is served
// or gone.
func (r *Registry) Failures() []Failure {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.failures)
}

// Set serves ns under its name, ns.Name(), replacing the namespace served
// under that name, if any. The registry owns ns from then on and closes it
// when it is replaced or removed, or the registry is closed; after Close,
// Set closes ns at once.
//
// Calls that are running on a replaced Lua namespace finish on it; calls
// waiting for one of its VMs move to ns.
//
// A namespace set by Set or SetGo is the program's, not the folder's: a
// [Watcher] never replaces or removes it, and a file naming it fails with
// a *[ClashError].
func (r *Registry) Set(ns *engine.Namespace) {
	old, err := r.put(ns.Name(), luaEntry(ns))
	switch {
	case err != nil:
		ns.Close()
	case old != nil && old.lua != ns:
		old.close()
	}
}

func luaEntry(ns *engine.Namespace) *entry {
	fi := ns.Functions()
	meta := make(map[string]transport.FuncMeta, len(fi))
	for _, f := range fi {
		params := f.Params
		if f.Variadic {
			params = append(params, "...")
		}
		meta[f.Name] = transport.FuncMeta{Name: ns.Name() + "/" + f.Name, Doc: f.Doc, Params: params}
	}
	return &entry{lua: ns, meta: meta}
}

// fileEntry is luaEntry for a namespace loaded from the file rel.
func fileEntry(ns *engine.Namespace, rel string) *entry {
	e := luaEntry(ns)
	e.file = rel
	return e
}

// GoFunction is a function written in Go, served by [Registry.SetGo].
type GoFunction struct {
	Name   string   // the function's name: any non-empty string
	Doc    string   // its documentation, for inspect requests
	Params []string // its parameter names, for inspect requests; end with "..." for a variadic function

	// Fn runs a call. args are the call's arguments as the request's codec
	// decoded them (the types transport.Codec lists: integers are int64),
	// or as slacker.call converted them from Lua. Its result goes to the
	// codec, or back to Lua, as is. Its errors reach the caller as
	// Registry.Call's do, and a panic is recovered into an error. Fn runs on
	// the calling goroutine: there is no pool, so Fn bounds its own
	// concurrency if it needs to.
	Fn func(ctx context.Context, args []any) (any, error)
}

// SetGo serves the Go functions fns as the namespace name, beside the Lua
// namespaces and called the same way, replacing the namespace served under
// that name, if any. name must be a name [NameOf] could give; functions
// need a name, unique in fns, and an Fn.
func (r *Registry) SetGo(name string, fns []GoFunction) error {
	if err := CheckGo(name, fns); err != nil {
		return err
	}
	e := &entry{
		fns:  make(map[string]*GoFunction, len(fns)),
		meta: make(map[string]transport.FuncMeta, len(fns)),
	}
	for _, f := range fns {
		f.Params = slices.Clone(f.Params)
		if f.Params == nil {
			f.Params = []string{}
		}
		e.fns[f.Name] = &f
		e.meta[f.Name] = transport.FuncMeta{Name: name + "/" + f.Name, Doc: f.Doc, Params: f.Params}
	}
	old, err := r.put(name, e)
	if err != nil {
		return err
	}
	if old != nil {
		old.close()
	}
	return nil
}

// CheckGo reports why [Registry.SetGo] would refuse to serve fns as the
// namespace name, if it would.
func CheckGo(name string, fns []GoFunction) error {
	if err := checkName(name); err != nil {
		return err
	}
	seen := make(map[string]bool, len(fns))
	for i, f := range fns {
		switch {
		case f.Name == "":
			return fmt.Errorf("namespaces: %s: function %d has no name", name, i)
		case f.Fn == nil:
			return fmt.Errorf("namespaces: %s/%s: Fn is nil", name, f.Name)
		case seen[f.Name]:
			return fmt.Errorf("namespaces: %s/%s: defined twice", name, f.Name)
		}
		seen[f.Name] = true
	}
	return nil
}

// Remove stops serving the namespace name and closes it. It reports whether
// there was one. Calls running on it finish; calls waiting for one of its
// VMs fail with not-found.
//
// A [Watcher] serves a namespace removed so again at its next look through
// the folder, if its file is still there.
func (r *Registry) Remove(name string) bool {
	old, _ := r.put(name, nil)
	if old == nil {
		return false
	}
	old.close()
	return true
}

// Namespaces returns the names of the served namespaces, sorted.
func (r *Registry) Namespaces() []string {
	return slices.Sorted(maps.Keys(r.snap.Load().ns))
}

// Pending returns, for each Lua namespace served, the calls running on it
// and those waiting for one of its VMs.
func (r *Registry) Pending() map[string]int {
	out := make(map[string]int)
	for name, e := range r.snap.Load().ns {
		if e.lua != nil {
			out[name] = e.lua.Pending()
		}
	}
	return out
}

// Description says what a served namespace is: what a cluster publishes
// of it.
type Description struct {
	Name      string
	Hash      string               // its version, as Event.Hash; "" for Go functions
	Options   engine.Options       // how it runs; the zero Options for Go functions
	Functions []transport.FuncMeta // sorted by name
}

// Describe describes the namespace name, if it is served.
func (r *Registry) Describe(name string) (Description, bool) {
	e := r.snap.Load().ns[name]
	if e == nil {
		return Description{}, false
	}
	d := Description{Name: name, Hash: e.hash()}
	if e.lua != nil {
		d.Options = e.lua.Options()
	}
	for _, fn := range slices.Sorted(maps.Keys(e.meta)) {
		m := e.meta[fn]
		m.Params = slices.Clone(m.Params)
		d.Functions = append(d.Functions, m)
	}
	return d, true
}

// Close stops the folder's [Watcher], if any, and every subscription (see
// [Registry.Subscribe]), stops serving every namespace and closes the Lua
// ones: calls running on them finish, later calls fail with not-found.
// Close may be called more than once.
func (r *Registry) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	w := r.watcher
	old := r.snap.Swap(newSnapshot(map[string]*entry{}))
	subs := r.subs
	r.subs = nil
	r.mu.Unlock()
	if w != nil {
		w.Close()
	}
	for _, e := range old.ns {
		e.close()
	}
	for s := range subs {
		s.stop()
	}
}

// put serves e, set by Set or SetGo, as the namespace name, or stops
// serving name when e is nil, returns the entry it replaces and tells the
// subscribers. put fails once the registry is closed.
func (r *Registry) put(name string, e *entry) (old *entry, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	return r.putLocked(name, e, 0), nil
}

// putLocked is put with r.mu held and the registry open. took is how long
// e took to load, for the event.
func (r *Registry) putLocked(name string, e *entry, took time.Duration) (old *entry) {
	cur := r.snap.Load()
	old = cur.ns[name]
	if e == nil && old == nil {
		return nil
	}
	ns := maps.Clone(cur.ns)
	delete(r.leaving, name)
	ev := Event{Namespace: name, Took: took}
	switch {
	case e == nil:
		delete(ns, name)
		ev.Kind, ev.Path, ev.Hash = Removed, old.path(), old.hash()
	case old == nil:
		ns[name] = e
		ev.Kind, ev.Path, ev.Hash = Added, e.path(), e.hash()
	default:
		ns[name] = e
		ev.Kind, ev.Path, ev.Hash = Updated, e.path(), e.hash()
	}
	r.snap.Store(newSnapshot(ns))
	r.emit(ev)
	return old
}

// putFile serves e, loaded from file, as the namespace name, and clears
// the file's failure; or, when e is nil, stops serving name if file serves
// it. See clash for when it is a *ClashError. It returns the entry it
// replaces, if any.
func (r *Registry) putFile(name, file string, e *entry, took time.Duration) (old *entry, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	if e == nil {
		if cur := r.snap.Load().ns[name]; cur == nil || cur.file != file {
			return nil, nil
		}
		return r.putLocked(name, nil, 0), nil
	}
	if err := r.clashLocked(name, file); err != nil {
		return nil, err
	}
	old = r.putLocked(name, e, took)
	r.clearFailureLocked(file)
	return old, nil
}

// clash reports whether the namespace name is served otherwise than from
// file: from another file, or by Set or SetGo. Then serving file as name
// is a *ClashError. (A file gone from the folder serves until a Watcher
// retires it, at the end of its grace.)
func (r *Registry) clash(name, file string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.clashLocked(name, file)
}

func (r *Registry) clashLocked(name, file string) error {
	cur := r.snap.Load().ns[name]
	switch {
	case cur == nil, cur.file == file:
		return nil
	case cur.file == "":
		return &ClashError{Name: name, Paths: []string{file}}
	}
	paths := []string{file, cur.file}
	slices.Sort(paths)
	return &ClashError{Name: name, Paths: paths}
}

// fileEntries returns the served namespaces loaded from files, by file.
func (r *Registry) fileEntries() map[string]*entry {
	out := make(map[string]*entry)
	for _, e := range r.snap.Load().ns {
		if e.file != "" {
			out[e.file] = e
		}
	}
	return out
}

// reportFailure records f as the failure of the file f.Path, replacing the
// one recorded for it, logs it and tells the subscribers, unless it is
// the failure already recorded (the same namespace, version and message).
// took is the event's.
func (r *Registry) reportFailure(f Failure, took time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := slices.IndexFunc(r.failures, func(g Failure) bool { return g.Path == f.Path })
	switch {
	case i < 0:
		r.failures = append(r.failures, f)
	case r.failures[i].Name == f.Name && r.failures[i].Hash == f.Hash && r.failures[i].Err.Error() == f.Err.Error():
		return
	default:
		r.failures[i] = f
	}
	attrs := []any{"file", f.Path, "namespace", f.Name, "err", f.Err}
	if f.Hash != "" {
		attrs = append(attrs, "version", short(f.Hash))
	}
	if e := r.snap.Load().ns[f.Name]; e != nil && e.file == f.Path {
		attrs = append(attrs, "serving", short(e.hash()))
	}
	r.log.Error("cannot serve namespace file", attrs...)
	if !r.closed {
		r.emit(Event{Kind: Failed, Namespace: f.Name, Path: f.Path, Hash: f.Hash, Err: f.Err, Took: took})
	}
}

// clearFailure forgets the failure of file, if any, and reports whether
// there was one.
func (r *Registry) clearFailure(file string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.clearFailureLocked(file)
}

func (r *Registry) clearFailureLocked(file string) bool {
	i := slices.IndexFunc(r.failures, func(f Failure) bool { return f.Path == file })
	if i < 0 {
		return false
	}
	f := r.failures[i]
	r.failures = slices.Delete(r.failures, i, i+1)
	if !r.closed {
		r.emit(Event{Kind: Cleared, Namespace: f.Name, Path: f.Path, Hash: f.Hash})
	}
	return true
}

// path is the file e was loaded from, or its script's path.
func (e *entry) path() string {
	switch {
	case e.file != "":
		return e.file
	case e.lua != nil:
		return e.lua.Script().Path
	}
	return ""
}

// hash is the hash of e's source; "" for Go functions.
func (e *entry) hash() string {
	if e.lua == nil {
		return ""
	}
	return e.lua.Script().Hash
}

func (e *entry) close() {
	if e.lua != nil {
		e.lua.Close()
	}
}
