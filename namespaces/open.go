package namespaces

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/slacker-lua/slacker-lua/engine"
)

// Open serves the namespace files of the folder dir: it finds them, names
// them with [NameOf], compiles them and loads them with cfg.Engine.
//
// It looks through dir and its subfolders, following symbolic links (but
// not into a loop), for files ending in ".lua". Files and folders whose
// names start with "." (hidden) or "_" (LibDir, and helpers) are skipped,
// and so are other files.
//
// A file that can't be served — its name is invalid, it can't be read, it
// has a syntax error, it fails while loading — is logged at error level
// with its file and line, recorded in [Registry.Failures] and skipped: the
// rest of the folder is served. Open itself fails when two files would
// serve the same namespace (a *[ClashError] naming both), when a folder
// can't be read, and when cfg.Engine is invalid.
//
// The namespaces are served together once all are loaded: a slacker.call
// made by a file while it loads finds none of them.
func Open(dir string, cfg Config) (*Registry, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("namespaces: %w", err)
	}
	r := New(cfg)
	r.dir = abs
	r.cfg.Engine.LibPath = filepath.Join(abs, LibDir)

	t, err := scan(abs, r.log)
	if err != nil {
		return nil, err
	}
	for _, f := range t.bad {
		r.fail(f)
	}
	if err := clashes(t.files); err != nil {
		return nil, err
	}
	loaded := make(map[string]*entry, len(t.files))
	for _, f := range t.files {
		src, err := os.ReadFile(filepath.Join(abs, filepath.FromSlash(f.rel)))
		if err != nil {
			r.fail(Failure{Path: f.rel, Name: f.name, Err: err})
			continue
		}
		ns, err := r.load(f.rel, f.name, src)
		var lerr *engine.LoadError
		switch {
		case errors.As(err, &lerr):
			r.fail(Failure{Path: f.rel, Name: f.name, Hash: engine.Hash(src), Err: err})
			continue
		case err != nil:
			for _, e := range loaded {
				e.close()
			}
			return nil, fmt.Errorf("namespaces: loading %s: %w", f.rel, err)
		}
		loaded[f.name] = fileEntry(ns, f.rel)
	}
	r.snap.Store(newSnapshot(loaded))
	return r, nil
}

// file is a namespace file found by scan.
type file struct {
	rel  string // slash path under the folder
	name string // the namespace
}

// tree is what scan found in a folder.
type tree struct {
	files []file    // the namespace files, sorted by path
	bad   []Failure // .lua files that can't be namespaces: invalid names, broken links
	dirs  []string  // the folders looked through, and those of files linked to, absolute paths
	libs  []string  // the files of LibDir, absolute paths, sorted
}

// scan looks through the folder dir, the absolute path of a served folder:
// its namespace files, and the modules of its LibDir.
func scan(dir string, log *slog.Logger) (*tree, error) {
	root, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("namespaces: %w", err)
	}
	if !root.IsDir() {
		return nil, fmt.Errorf("namespaces: %s is not a folder", dir)
	}
	w := walker{log: log, t: &tree{}}
	if err := w.walk(dir, "", []os.FileInfo{root}); err != nil {
		return nil, err
	}
	lib := filepath.Join(dir, LibDir)
	if info, err := os.Stat(lib); err == nil && info.IsDir() {
		w.lib = true
		if err := w.walk(lib, LibDir, []os.FileInfo{info}); err != nil {
			return nil, err
		}
	}
	return w.t, nil
}

// walker gathers a tree.
type walker struct {
	log *slog.Logger
	lib bool // walking LibDir: every .lua file is a module
	t   *tree
}

// walk adds what the folder at abs holds to the tree; rel is its slash path
// under the served folder. parents are the folders that lead to it, to
// detect symbolic link loops.
func (w *walker) walk(abs, rel string, parents []os.FileInfo) error {
	entries, err := os.ReadDir(abs)
	if err != nil {
		return fmt.Errorf("namespaces: %w", err)
	}
	w.t.dirs = append(w.t.dirs, abs)
	for _, de := range entries {
		name := de.Name()
		p, q := filepath.Join(abs, name), path.Join(rel, name)
		if name[0] == '.' || name[0] == '_' && !w.lib {
			w.log.Debug("skipping", "file", q)
			continue
		}
		isLua := strings.HasSuffix(name, ".lua")
		mode := de.Type()
		var info os.FileInfo
		if mode&fs.ModeSymlink != 0 {
			if info, err = os.Stat(p); err != nil {
				if isLua && !w.lib {
					w.t.bad = append(w.t.bad, Failure{Path: q, Err: err})
				} else {
					w.log.Warn("skipping a broken symbolic link", "file", q, "err", err)
				}
				continue
			}
			mode = info.Mode().Type()
			if isLua && mode.IsRegular() {
				// A file elsewhere changes where it is: watch there too.
				if real, err := filepath.EvalSymlinks(p); err == nil {
					w.t.dirs = append(w.t.dirs, filepath.Dir(real))
				}
			}
		}
		switch {
		case mode.IsDir():
			if info == nil {
				if info, err = de.Info(); err != nil {
					return fmt.Errorf("namespaces: %w", err)
				}
			}
			if slices.ContainsFunc(parents, func(fi os.FileInfo) bool { return os.SameFile(fi, info) }) {
				w.log.Warn("skipping a symbolic link loop", "file", q)
				continue
			}
			if err := w.walk(p, q, append(parents, info)); err != nil {
				return err
			}
		case mode.IsRegular() && isLua && w.lib:
			w.t.libs = append(w.t.libs, p)
		case mode.IsRegular() && isLua:
			ns, err := NameOf(q)
			if err != nil {
				w.t.bad = append(w.t.bad, Failure{Path: q, Err: err})
				continue
			}
			w.t.files = append(w.t.files, file{rel: q, name: ns})
		}
	}
	return nil
}

// clashes reports namespaces that more than one of files would serve.
func clashes(files []file) error {
	paths := make(map[string][]string, len(files))
	for _, f := range files {
		paths[f.name] = append(paths[f.name], f.rel)
	}
	var errs []error
	for _, f := range files {
		if p := paths[f.name]; len(p) > 1 {
			slices.Sort(p)
			errs = append(errs, &ClashError{Name: f.name, Paths: p})
			delete(paths, f.name)
		}
	}
	return errors.Join(errs...)
}

// load compiles src, the source of the namespace file rel, and loads it as
// the namespace name. Its errors are why the file can't be served: a
// *engine.LoadError with the file and line, or an invalid engine
// configuration.
func (r *Registry) load(rel, name string, src []byte) (*engine.Namespace, error) {
	s, err := engine.Compile(name, rel, src)
	if err != nil {
		return nil, err
	}
	ns, err := engine.Load(s, r.cfg.Engine)
	if err != nil {
		return nil, err
	}
	r.log.Debug("namespace loaded", "namespace", name, "file", rel, "functions", len(ns.Functions()))
	return ns, nil
}

// fail records a file that can't be served.
func (r *Registry) fail(f Failure) {
	r.log.Error("cannot serve namespace file", "file", f.Path, "namespace", f.Name, "err", f.Err)
	r.mu.Lock()
	r.failures = append(r.failures, f)
	r.mu.Unlock()
}
