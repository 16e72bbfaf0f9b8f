package namespaces

import (
	"context"
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

// TestSuffix ends the names of test files, which slacker-lua test runs
// and a folder never serves.
const TestSuffix = "_test.lua"

// Open serves the namespace files of the folder dir: it finds them, names
// them with [NameOf], compiles them and loads them with cfg.Engine.
//
// It looks through dir and its subfolders, following symbolic links (but
// not into a loop), for files ending in ".lua". Files and folders whose
// names start with "." (hidden) or "_" (LibDir, and helpers) are skipped,
// and so are test files (ending in [TestSuffix]) and other files.
//
// A file that can't be served — its name is invalid, it can't be read, it
// has a syntax error, it fails while loading, another file names the same
// namespace (a *[ClashError]: neither is served) — is logged at error level
// with its file and line, recorded in [Registry.Failures] and skipped: the
// rest of the folder is served. So is a folder that can't be read. Open
// itself fails when dir can't be read, and when cfg.Engine is invalid.
//
// The namespaces are served together once all are loaded: a slacker.call
// made by a file while it loads finds none of them.
//
// ctx bounds the loading: once it is done, Open stops, even in the middle
// of a file's top level, closes the namespaces it loaded, and returns an
// error wrapping ctx.Err().
func Open(ctx context.Context, dir string, cfg Config) (*Registry, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	r := New(cfg)
	r.dir = abs
	r.cfg.Engine.LibPath = filepath.Join(abs, LibDir)

	t, err := scan(abs, r.log)
	if err != nil {
		return nil, err
	}
	for _, f := range t.bad {
		r.reportFailure(f, 0)
	}
	loaded := make(map[string]*entry, len(t.files))
	abort := func(err error) (*Registry, error) {
		for _, e := range loaded {
			e.close()
		}
		return nil, err
	}
	for _, f := range withoutClashes(r, t.files) {
		if err := ctx.Err(); err != nil {
			return abort(fmt.Errorf("opening %s: %w", dir, err))
		}
		src, err := os.ReadFile(filepath.Join(abs, filepath.FromSlash(f.rel)))
		if err != nil {
			r.reportFailure(newFailure(f.rel, f.name, "", err), 0)
			continue
		}
		ns, err := r.load(ctx, f.rel, f.name, src)
		var lerr *engine.LoadError
		switch {
		case errors.As(err, &lerr):
			r.reportFailure(Failure{Path: f.rel, Name: f.name, Hash: engine.Hash(src), Err: err}, 0)
			continue
		case err != nil:
			return abort(fmt.Errorf("loading %s: %w", f.rel, err))
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
	files      []file    // the namespace files, sorted by path
	bad        []Failure // .lua files that can't be namespaces (invalid names, broken links), and folders that can't be read
	unreadable []string  // the folders that can't be read, slash paths under the folder
	dirs       []dir     // the folders looked through, and those of files linked to
	libs       []string  // the files of LibDir, absolute paths, sorted
}

// dir is a folder scan found.
type dir struct {
	path string // absolute
	info os.FileInfo
}

// scan looks through the folder dir, the absolute path of a served folder:
// its namespace files, and the modules of its LibDir.
func scan(dir string, log *slog.Logger) (*tree, error) {
	root, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !root.IsDir() {
		return nil, fmt.Errorf("%s is not a folder", dir)
	}
	if _, err := os.ReadDir(dir); err != nil {
		return nil, err
	}
	w := walker{log: log, t: &tree{}}
	w.walk(dir, "", []os.FileInfo{root})
	lib := filepath.Join(dir, LibDir)
	if info, err := os.Stat(lib); err == nil && info.IsDir() {
		w.lib = true
		w.walk(lib, LibDir, []os.FileInfo{info})
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
// under the served folder. parents are the folders that lead to it, the
// last its own, to detect symbolic link loops.
func (w *walker) walk(abs, rel string, parents []os.FileInfo) {
	entries, err := os.ReadDir(abs)
	if err != nil {
		w.t.unreadable = append(w.t.unreadable, rel)
		w.t.bad = append(w.t.bad, newFailure(rel, "", "", err))
		return
	}
	w.t.dirs = append(w.t.dirs, dir{abs, parents[len(parents)-1]})
	for _, de := range entries {
		name := de.Name()
		p, q := filepath.Join(abs, name), path.Join(rel, name)
		if name[0] == '.' || name[0] == '_' && !w.lib {
			w.log.Debug("skipping", "file", q)
			continue
		}
		isLua := strings.HasSuffix(name, ".lua") && !strings.HasSuffix(name, TestSuffix)
		mode := de.Type()
		var info os.FileInfo
		if mode&fs.ModeSymlink != 0 {
			if info, err = os.Stat(p); err != nil {
				if isLua && !w.lib {
					ns, _ := NameOf(q)
					w.t.bad = append(w.t.bad, newFailure(q, ns, "", err))
				} else {
					w.log.Warn("skipping a broken symbolic link", "file", q, "err", err)
				}
				continue
			}
			mode = info.Mode().Type()
			if real, err := filepath.EvalSymlinks(p); err == nil && isLua && mode.IsRegular() {
				// A file elsewhere changes where it is: watch there too.
				if di, err := os.Stat(filepath.Dir(real)); err == nil {
					w.t.dirs = append(w.t.dirs, dir{filepath.Dir(real), di})
				}
			}
		}
		switch {
		case mode.IsDir():
			if info == nil {
				if info, err = de.Info(); err != nil {
					w.t.unreadable = append(w.t.unreadable, q)
					w.t.bad = append(w.t.bad, newFailure(q, "", "", err))
					continue
				}
			}
			if slices.ContainsFunc(parents, func(fi os.FileInfo) bool { return os.SameFile(fi, info) }) {
				w.log.Warn("skipping a symbolic link loop", "file", q)
				continue
			}
			w.walk(p, q, append(parents, info))
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
}

// newFailure is the failure of the file rel, with the paths of err's
// *fs.PathError made rel: where the server keeps its files is its own
// business.
func newFailure(rel, name, hash string, err error) Failure {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		pe.Path = rel
	}
	return Failure{Path: rel, Name: name, Hash: hash, Err: err}
}

// withoutClashes returns files without those that name the same namespace
// as another, and reports those as failures: a *ClashError naming them
// all.
func withoutClashes(r *Registry, files []file) []file {
	paths := make(map[string][]string, len(files))
	for _, f := range files {
		paths[f.name] = append(paths[f.name], f.rel)
	}
	var out []file
	for _, f := range files {
		p := paths[f.name]
		if len(p) == 1 {
			out = append(out, f)
			continue
		}
		slices.Sort(p)
		var hash string
		if src, err := os.ReadFile(filepath.Join(r.dir, filepath.FromSlash(f.rel))); err == nil {
			hash = engine.Hash(src)
		}
		r.reportFailure(Failure{Path: f.rel, Name: f.name, Hash: hash, Err: &ClashError{Name: f.name, Paths: p}}, 0)
	}
	return out
}

// load compiles src, the source of the namespace file rel, and loads it as
// the namespace name. Its errors are why the file can't be served: a
// *engine.LoadError with the file and line, or an invalid engine
// configuration; or, once ctx is done, an error wrapping ctx.Err().
func (r *Registry) load(ctx context.Context, rel, name string, src []byte) (*engine.Namespace, error) {
	s, err := engine.Compile(name, rel, src)
	if err != nil {
		return nil, err
	}
	ns, err := engine.Load(ctx, s, r.cfg.Engine)
	if err != nil {
		return nil, err
	}
	r.log.Debug("namespace loaded", "namespace", name, "file", rel, "functions", len(ns.Functions()))
	return ns, nil
}
