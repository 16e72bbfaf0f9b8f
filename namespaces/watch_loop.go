package namespaces

import (
	"context"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// loop waits for changes and syncs, until Close. next, when not 0, is how
// soon a sync is due anyway.
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
		t := w.clk.NewTicker(w.cfg.Poll)
		defer t.Stop()
		tick = t.C()
	}
	d := &due{clk: w.clk, t: w.clk.NewTimer()}
	defer d.t.Stop()
	if next > 0 {
		d.arm(d.clk.Now().Add(next))
	}
	for {
		var reply chan error
		select {
		case <-w.done:
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			w.changed(ev, d)
			continue
		case err, ok := <-errs:
			if !ok {
				return
			}
			// Most likely the event queue overflowed: events were lost,
			// and a look through the folder finds what they said.
			w.log.Warn("watching the namespace folder", "dir", w.r.dir, "err", err)
		case <-tick:
		case <-d.t.C():
			d.at = time.Time{}
		case reply = <-w.rescan:
		}
		d.first = time.Time{}
		// Close waits for the look to end: its loads are bounded by the
		// engine's Timeout, not by Close.
		next, err := w.sync(context.Background(), reply != nil)
		if next > 0 {
			d.arm(d.clk.Now().Add(next))
		}
		if reply != nil {
			reply <- err
		}
	}
}

// due is the loop's one timer, for the debounce and for the files waited
// on.
type due struct {
	clk   clock
	t     timer
	at    time.Time // when t fires; zero when it is stopped
	first time.Time // the first change not synced yet; zero if none
}

// arm makes the timer fire at at, unless it fires earlier.
func (d *due) arm(at time.Time) {
	if d.at.IsZero() || at.Before(d.at) {
		d.t.Reset(at.Sub(d.clk.Now()))
		d.at = at
	}
}

// changed acts on a file event: it restarts the debounce, so that the
// next look comes once the folder has been quiet for Debounce, but no
// later than MaxDelay after the first change not synced yet.
func (w *Watcher) changed(ev fsnotify.Event, d *due) {
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		w.unwatch(ev.Name)
	}
	if !relevant(ev) {
		return
	}
	now := w.clk.Now()
	w.touched(ev.Name, now)
	if d.first.IsZero() {
		d.first = now
	}
	at := now.Add(w.cfg.Debounce)
	if limit := d.first.Add(w.cfg.MaxDelay); limit.Before(at) {
		at = limit
	}
	d.t.Stop()
	d.at = time.Time{}
	d.arm(at)
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
