package namespaces

import (
	"errors"
	"fmt"
	"io/fs"
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

	files, err := r.scan(abs)
	if err != nil {
		return nil, err
	}
	if err := clashes(files); err != nil {
		return nil, err
	}
	loaded := make(map[string]*entry, len(files))
	for _, f := range files {
		ns, err := r.load(abs, f.rel, f.name)
		if err != nil {
			for _, e := range loaded {
				e.close()
			}
			return nil, err
		}
		if ns != nil {
			loaded[f.name] = luaEntry(ns)
		}
	}
	r.snap.Store(newSnapshot(loaded))
	return r, nil
}

// file is a namespace file found by scan.
type file struct {
	rel  string // slash path under the folder
	name string // the namespace
}

// scan lists the namespace files under dir, sorted by path. Files with
// invalid names are recorded as failures.
func (r *Registry) scan(dir string) ([]file, error) {
	root, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("namespaces: %w", err)
	}
	if !root.IsDir() {
		return nil, fmt.Errorf("namespaces: %s is not a folder", dir)
	}
	var files []file
	err = r.walk(dir, "", []os.FileInfo{root}, &files)
	return files, err
}

// walk adds the namespace files of the folder at abs, whose slash path
// under the served folder is rel, to files. parents are the folders that
// lead to it, to detect symbolic link loops.
func (r *Registry) walk(abs, rel string, parents []os.FileInfo, files *[]file) error {
	entries, err := os.ReadDir(abs)
	if err != nil {
		return fmt.Errorf("namespaces: %w", err)
	}
	for _, de := range entries {
		name := de.Name()
		p, q := filepath.Join(abs, name), path.Join(rel, name)
		if name[0] == '.' || name[0] == '_' {
			r.log.Debug("skipping", "file", q)
			continue
		}
		isLua := strings.HasSuffix(name, ".lua")
		mode := de.Type()
		var info os.FileInfo
		if mode&fs.ModeSymlink != 0 {
			if info, err = os.Stat(p); err != nil {
				if isLua {
					r.fail(q, "", err)
				} else {
					r.log.Warn("skipping a broken symbolic link", "file", q, "err", err)
				}
				continue
			}
			mode = info.Mode().Type()
		}
		switch {
		case mode.IsDir():
			if info == nil {
				if info, err = de.Info(); err != nil {
					return fmt.Errorf("namespaces: %w", err)
				}
			}
			if slices.ContainsFunc(parents, func(fi os.FileInfo) bool { return os.SameFile(fi, info) }) {
				r.log.Warn("skipping a symbolic link loop", "file", q)
				continue
			}
			if err := r.walk(p, q, append(parents, info), files); err != nil {
				return err
			}
		case mode.IsRegular() && isLua:
			ns, err := NameOf(q)
			if err != nil {
				r.fail(q, "", err)
				continue
			}
			*files = append(*files, file{rel: q, name: ns})
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

// load compiles and loads the namespace file rel of the folder dir. A file
// that can't be served is recorded as a failure, and load returns nil, nil;
// an error is an invalid engine configuration.
func (r *Registry) load(dir, rel, name string) (*engine.Namespace, error) {
	src, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
	if err != nil {
		r.fail(rel, name, err)
		return nil, nil
	}
	s, err := engine.Compile(name, rel, src)
	if err != nil {
		r.fail(rel, name, err)
		return nil, nil
	}
	ns, err := engine.Load(s, r.cfg.Engine)
	var lerr *engine.LoadError
	switch {
	case errors.As(err, &lerr):
		r.fail(rel, name, err)
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("namespaces: loading %s: %w", rel, err)
	}
	r.log.Debug("namespace loaded", "namespace", name, "file", rel, "functions", len(ns.Functions()))
	return ns, nil
}

// fail records a file that can't be served.
func (r *Registry) fail(rel, name string, err error) {
	r.log.Error("cannot serve namespace file", "file", rel, "namespace", name, "err", err)
	r.mu.Lock()
	r.failures = append(r.failures, Failure{Path: rel, Name: name, Err: err})
	r.mu.Unlock()
}
