package namespaces

import (
	"github.com/slacker-lua/slacker-lua/engine"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

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
	readAt := w.clk.Now()
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
