package loadgen

import (
	"context"
	"testing"
)

func TestConfig(t *testing.T) {
	for _, cfg := range []Config{{}, {Callers: 1}, {Callers: 1, Calls: -1}, {Callers: 0, Calls: 1}} {
		if _, err := Run(context.Background(), cfg, func(context.Context, int) error { return nil }); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
}

func TestConfigReportsEveryField(t *testing.T) {
	err := Config{Calls: -1}.validate()
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok || len(joined.Unwrap()) != 2 {
		t.Errorf("%v: want 2 errors, of Callers and of Calls", err)
	}
}
