package namespaces

import "time"

// clock is what a [Watcher] asks for the time and for its timers: the
// debounce, the grace of files missing or empty, the drain, and the poll
// all run on it. The real clock is the only one a program uses; tests set
// WatchConfig.clock to a fake one that moves only when they move it, so
// that each window opens and closes when the test says.
//
// The times of files (modification and change times) are the
// filesystem's, not the clock's, and how long a load took (Event.Took)
// is measured on the real clock.
type clock interface {
	Now() time.Time
	// NewTimer returns a timer that is stopped.
	NewTimer() timer
	NewTicker(d time.Duration) ticker
}

// timer is a one-shot timer. As with a [time.Timer] since Go 1.23, no
// value sent before a Reset or Stop is received after it.
type timer interface {
	C() <-chan time.Time
	// Reset makes the timer fire d from now, stopping it first.
	Reset(d time.Duration)
	Stop()
}

// ticker fires every period; ticks the receiver is not ready for are
// dropped, as a [time.Ticker] drops them.
type ticker interface {
	C() <-chan time.Time
	Stop()
}

// realClock is the clock of the time package.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer() timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return realTimer{t}
}

func (realClock) NewTicker(d time.Duration) ticker { return realTicker{time.NewTicker(d)} }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time   { return t.t.C }
func (t realTimer) Reset(d time.Duration) { t.t.Reset(d) }
func (t realTimer) Stop()                 { t.t.Stop() }

type realTicker struct{ t *time.Ticker }

func (t realTicker) C() <-chan time.Time { return t.t.C }
func (t realTicker) Stop()               { t.t.Stop() }
