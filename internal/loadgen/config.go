package loadgen

import (
	"errors"
	"time"
)

// Config says how much load to make. Callers and one of Calls or Duration
// are required.
type Config struct {
	// Callers is the number of goroutines calling without pause.
	Callers int
	// Calls is how many calls to make in all; 0 means until Duration.
	Calls int
	// Duration is how long to call; 0 means until Calls are made.
	Duration time.Duration
	// Warmup is a time of calls not measured, first.
	Warmup time.Duration
	// Progress, if set, is called about once a second, from a goroutine of
	// Run's, with the calls and errors so far and the time since the
	// measure began.
	Progress func(calls, errors int64, elapsed time.Duration)
}

// validate reports every field of c that Run cannot use.
func (c Config) validate() error {
	var errs []error
	if c.Callers < 1 {
		errs = append(errs, errors.New("loadgen: want 1 caller or more"))
	}
	if c.Calls < 0 || c.Duration < 0 || c.Warmup < 0 {
		errs = append(errs, errors.New("loadgen: negative Calls, Duration or Warmup"))
	}
	if c.Calls == 0 && c.Duration == 0 {
		errs = append(errs, errors.New("loadgen: want Calls or Duration"))
	}
	return errors.Join(errs...)
}
