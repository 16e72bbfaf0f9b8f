package namespaces

import (
	"context"
	"slices"
	"sync"
	"time"
)

// EventKind says what happened to a namespace.
type EventKind int

const (
	// Added: the namespace is served, and was not before.
	Added EventKind = iota + 1
	// Updated: a new version of the namespace replaced the served one.
	Updated
	// Removed: the namespace is no longer served.
	Removed
	// Failed: a file of the folder failed to load as the namespace. The
	// namespace's served version, if any, is still served.
	Failed
	// Cleared: the failure of a file is over: the file was served, went
	// back to the version served, or is gone.
	Cleared
	// Leaving: the namespace's file is gone, and the namespace is served
	// for WatchConfig.Drain more, then Removed, unless Kept.
	Leaving
	// Kept: the file of a namespace Leaving is back; it is served on.
	Kept
)

func (k EventKind) String() string {
	switch k {
	case Added:
		return "added"
	case Updated:
		return "updated"
	case Removed:
		return "removed"
	case Failed:
		return "failed"
	case Cleared:
		return "cleared"
	case Leaving:
		return "leaving"
	case Kept:
		return "kept"
	}
	return "unknown"
}

// Event is a change to what a registry serves, as a [Subscription] reports
// it.
type Event struct {
	Kind      EventKind
	Namespace string // the namespace; "" for a file whose name is invalid, and a folder that can't be read
	// Path is the file, a slash path under the folder: the one served
	// (Added, Updated), the one no longer served (Removed), or the one that
	// failed. "" for Go namespaces.
	Path string
	// Hash is the version: the hex SHA-256 of the file's source, for Lua
	// namespaces; "" for Go ones, and for files that could not be read.
	// For Cleared, the version whose failure is over.
	Hash string
	// Err says why the file failed, for Failed: see [Failure].
	Err error
	// Took is how long the file took to compile and load, when a [Watcher]
	// loaded it; 0 otherwise.
	Took time.Duration
}

// Subscription is an ordered stream of a registry's events, made by
// [Registry.Subscribe]. Events queue up in the subscription until Next
// takes them, so a subscriber that reads slowly never holds up the
// registry, and loses none.
type Subscription struct {
	r     *Registry
	ready chan struct{} // holds a token while queue is not empty or the subscription is closed

	mu     sync.Mutex
	queue  []Event
	closed bool
}

// Subscribe returns a subscription to the registry's events. Its first
// events are an Added for each namespace served at that moment, in the
// order of their names (followed by a Leaving for one that is leaving),
// and a Failed for each failure recorded (see
// [Registry.Failures]); then every change, in the order the registry made
// them. A subscription holds the events Next has not taken yet, however
// many. Close the subscription when done with it; closing the registry
// closes it too.
func (r *Registry) Subscribe() *Subscription {
	s := &Subscription{r: r, ready: make(chan struct{}, 1)}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		s.stop()
		return s
	}
	cur := r.snap.Load()
	names := make([]string, 0, len(cur.ns))
	for name := range cur.ns {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		e := cur.ns[name]
		s.push(Event{Kind: Added, Namespace: name, Path: e.path(), Hash: e.hash()})
		if r.leaving[name] {
			s.push(Event{Kind: Leaving, Namespace: name, Path: e.path(), Hash: e.hash()})
		}
	}
	for _, f := range r.failures {
		s.push(Event{Kind: Failed, Namespace: f.Name, Path: f.Path, Hash: f.Hash, Err: f.Err})
	}
	if r.subs == nil {
		r.subs = make(map[*Subscription]struct{})
	}
	r.subs[s] = struct{}{}
	return s
}

// Next returns the next event, waiting for one as long as ctx allows. It
// returns ctx's error when ctx is done first, and [ErrClosed] once the
// subscription or its registry is closed and the events queued before were
// taken.
func (s *Subscription) Next(ctx context.Context) (Event, error) {
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			ev := s.queue[0]
			s.queue[0] = Event{}
			s.queue = s.queue[1:]
			if len(s.queue) > 0 || s.closed {
				s.signal()
			}
			s.mu.Unlock()
			return ev, nil
		}
		closed := s.closed
		s.mu.Unlock()
		if closed {
			s.signal()
			return Event{}, ErrClosed
		}
		select {
		case <-s.ready:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}

// Close ends the subscription: Next returns ErrClosed once the events
// already queued were taken. Close may be called more than once.
func (s *Subscription) Close() {
	s.r.mu.Lock()
	delete(s.r.subs, s)
	s.r.mu.Unlock()
	s.stop()
}

// push queues ev. It never blocks.
func (s *Subscription) push(ev Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.queue = append(s.queue, ev)
	s.signal()
}

func (s *Subscription) stop() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.signal()
}

// signal leaves a token in ready, if there is none.
func (s *Subscription) signal() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// announce tells every subscription of ev, a Leaving or a Kept, unless
// the registry is closed.
func (r *Registry) announce(ev Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	switch ev.Kind {
	case Leaving:
		if r.leaving == nil {
			r.leaving = make(map[string]bool)
		}
		r.leaving[ev.Namespace] = true
	case Kept:
		delete(r.leaving, ev.Namespace)
	}
	r.emit(ev)
}

// emit tells every subscription of ev. r.mu is held, which orders the
// events.
func (r *Registry) emit(ev Event) {
	for s := range r.subs {
		s.push(ev)
	}
}
