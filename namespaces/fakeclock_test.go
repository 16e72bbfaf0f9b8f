package namespaces

import (
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock that moves only when the test moves it. It starts
// at the real time it was made.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers map[*fakeTimer]bool // the armed timers and tickers
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Now(), timers: make(map[*fakeTimer]bool)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer() timer { return &fakeTimer{c: c, ch: make(chan time.Time, 1)} }

func (c *fakeClock) NewTicker(d time.Duration) ticker {
	t := &fakeTimer{c: c, ch: make(chan time.Time, 1), period: d}
	c.mu.Lock()
	t.at = c.now.Add(d)
	c.timers[t] = true
	c.mu.Unlock()
	return t
}

// Advance moves the clock on by d and fires the timers and tickers due by
// then.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.fireLocked()
}

// age sets back the modification time of every file under dir modified
// less than d before the clock's time, to d before it: each file is then
// at least d old, and the clock has not moved.
func (c *fakeClock) age(t testing.TB, dir string, d time.Duration) {
	t.Helper()
	old := c.Now().Add(-d)
	err := filepath.WalkDir(dir, func(path string, de fs.DirEntry, err error) error {
		if err != nil || !de.Type().IsRegular() {
			return err
		}
		info, err := de.Info()
		if err != nil || !info.ModTime().After(old) {
			return err
		}
		return os.Chtimes(path, old, old)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// next returns when the earliest armed timer or ticker fires, if one is
// armed.
func (c *fakeClock) next() (at time.Time, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for t := range c.timers {
		if !ok || t.at.Before(at) {
			at, ok = t.at, true
		}
	}
	return at, ok
}

func (c *fakeClock) fireLocked() {
	for t := range c.timers {
		if t.at.After(c.now) {
			continue
		}
		select {
		case t.ch <- t.at:
		default: // a tick the receiver is not ready for is dropped
		}
		if t.period == 0 {
			delete(c.timers, t)
			continue
		}
		for !t.at.After(c.now) {
			t.at = t.at.Add(t.period)
		}
	}
}

// fakeTimer is a timer, or a ticker when period is set, of a fakeClock.
// Its channel holds one value; Reset and Stop empty it, so that no value
// sent before them is received after, as the loop, its only receiver,
// needs.
type fakeTimer struct {
	c      *fakeClock
	ch     chan time.Time
	period time.Duration
	at     time.Time // when it fires next, while armed
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Reset(d time.Duration) {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	t.drain()
	t.at = t.c.now.Add(d)
	t.c.timers[t] = true
	t.c.fireLocked()
}

func (t *fakeTimer) Stop() {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	delete(t.c.timers, t)
	t.drain()
}

func (t *fakeTimer) drain() {
	select {
	case <-t.ch:
	default:
	}
}
