package tracectx

import (
	"context"
	"strings"
	"testing"
)

func TestValid(t *testing.T) {
	good := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for p, want := range map[string]bool{
		good: true,
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00":      true,
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more": true, // a later version's fields
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more": false,
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03":      true,  // sampled and random
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09":      false, // bits version 00 has not
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff":      false,
		"02-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff":      true, // a later version's flags are its own
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01":      false,
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01":      false,
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01":      false,
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01":      false, // uppercase
		"00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01":      false,
		"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01":      false,
		"": false,
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-" + strings.Repeat("x", MaxParent): false,
	} {
		if got := (Context{Parent: p}).Valid(); got != want {
			t.Errorf("Valid(%q) = %v", p, got)
		}
	}
	long := Context{Parent: good, State: strings.Repeat("a", MaxState+1)}
	if !long.Valid() {
		t.Error("a tracestate too long voids the traceparent")
	}
	if got := From(With(context.Background(), long)); got.Parent != good || got.State != "" {
		t.Errorf("a tracestate too long: %+v, want the traceparent alone", got)
	}
	if id := (Context{Parent: good}).TraceID(); id != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("TraceID: %q", id)
	}
}

func TestWithFrom(t *testing.T) {
	ctx := context.Background()
	if tc := From(ctx); tc != (Context{}) {
		t.Errorf("From(Background) = %+v", tc)
	}
	if With(ctx, Context{Parent: "bad"}) != ctx {
		t.Error("With an invalid Context changed the context")
	}
	tc := Context{Parent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", State: "k=v"}
	if got := From(With(ctx, tc)); got != tc {
		t.Errorf("From(With(tc)) = %+v", got)
	}
	if got := From(context.WithValue(ctx, Key{}, tc)); got != tc {
		t.Errorf("Key: %+v", got)
	}
}

func FuzzValid(f *testing.F) {
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	f.Add("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x")
	f.Fuzz(func(t *testing.T, p string) {
		tc := Context{Parent: p}
		if tc.Valid() {
			if id := tc.TraceID(); len(id) != 32 || !hex(id) {
				t.Fatalf("%q: trace id %q", p, id)
			}
		} else if tc.TraceID() != "" {
			t.Fatalf("%q: invalid, with a trace id", p)
		}
	})
}

func TestSampled(t *testing.T) {
	for p, want := range map[string]bool{
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01": true,
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03": true,
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00": false,
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02": false,
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0f": true,
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0e": false,
		"bad": false,
	} {
		if got := (Context{Parent: p}).Sampled(); got != want {
			t.Errorf("Sampled(%q) = %v", p, got)
		}
		if got := Sampled(With(context.Background(), Context{Parent: p})); got != want {
			t.Errorf("Sampled(ctx of %q) = %v", p, got)
		}
	}
	if !Sampled(context.WithValue(context.Background(), SampledKey{}, true)) {
		t.Error("a context that says it is sampled")
	}
}
