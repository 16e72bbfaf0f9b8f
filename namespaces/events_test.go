package namespaces

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSubscription(t *testing.T) {
	r := openFiles(t, map[string]string{"b.lua": `function f() end`, "a.lua": `function f() end`}, Config{})
	sub := r.Subscribe()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	next := func() Event {
		t.Helper()
		ev, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	// First what is served, by name.
	if ev := next(); ev.Kind != Added || ev.Namespace != "a" || ev.Path != "a.lua" || len(ev.Hash) != 64 {
		t.Fatalf("first event %+v", ev)
	}
	if ev := next(); ev.Kind != Added || ev.Namespace != "b" {
		t.Fatalf("second event %+v", ev)
	}
	// Then the changes, which queue up while nobody reads.
	for i := range 100 {
		if err := r.SetGo("g", []GoFunction{{Name: "f", Fn: func(context.Context, []any) (any, error) { return i, nil }}}); err != nil {
			t.Fatal(err)
		}
	}
	r.Remove("g")
	if ev := next(); ev.Kind != Added || ev.Namespace != "g" || ev.Path != "" || ev.Hash != "" {
		t.Fatalf("SetGo's event %+v", ev)
	}
	for range 99 {
		if ev := next(); ev.Kind != Updated {
			t.Fatalf("event %+v, want updated", ev)
		}
	}
	if ev := next(); ev.Kind != Removed || ev.Namespace != "g" {
		t.Fatalf("Remove's event %+v", ev)
	}

	// Next waits as long as its context allows.
	short, cancelShort := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancelShort()
	if _, err := sub.Next(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next with nothing queued: %v", err)
	}

	// Closing the registry ends the subscription, after the events queued.
	other := r.Subscribe()
	r.Close()
	if _, err := sub.Next(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
	if ev, err := other.Next(ctx); err != nil || ev.Kind != Added {
		t.Fatalf("a queued event after Close: %+v, %v", ev, err)
	}
	other.Next(ctx)
	if _, err := other.Next(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after the queued events: %v", err)
	}
	sub.Close()
	sub.Close()
	if _, err := r.Subscribe().Next(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Subscribe after Close: %v", err)
	}
	if got := EventKind(0).String() + " " + Failed.String(); got != "unknown failed" {
		t.Errorf("kinds: %s", got)
	}
}

func TestServeStatus(t *testing.T) {
	r := openFiles(t, map[string]string{"a.lua": `function f() end function g() end`, "bad.lua": `x(`}, Config{})
	if err := r.ServeStatus(); err != nil {
		t.Fatal(err)
	}
	ns := mustCall(t, r, StatusNamespace+"/namespaces").([]any)
	if len(ns) != 2 {
		t.Fatalf("namespaces %v", ns)
	}
	a := ns[0].(map[string]any)
	if a["namespace"] != "a" || a["file"] != "a.lua" || a["functions"] != int64(2) || len(a["version"].(string)) != 64 {
		t.Fatalf("a: %v", a)
	}
	if st := ns[1].(map[string]any); st["namespace"] != StatusNamespace || st["file"] != "" || st["version"] != "" {
		t.Fatalf("status: %v", st)
	}
	fails := mustCall(t, r, StatusNamespace+"/failures").([]any)
	if f := fails[0].(map[string]any); len(fails) != 1 || f["file"] != "bad.lua" || f["namespace"] != "bad" || !strings.HasPrefix(f["error"].(string), "bad.lua:1:") {
		t.Fatalf("failures %v", fails)
	}
}

func TestWatchConfig(t *testing.T) {
	r := New(Config{})
	defer r.Close()
	if _, err := r.Watch(context.Background(), WatchConfig{}); err == nil || !strings.Contains(err.Error(), "made by Open") {
		t.Fatalf("Watch of a registry made by New: %v", err)
	}
	for _, cfg := range []WatchConfig{{Mode: -1}, {Mode: 3}, {Poll: -1}, {Debounce: -1}, {MaxDelay: -1}, {Grace: -1}, {Drain: -1}} {
		if _, err := r.Watch(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "is negative") && !strings.Contains(err.Error(), "is no WatchMode") {
			t.Errorf("Watch(%+v): %v", cfg, err)
		}
	}
	err := WatchConfig{Mode: -1, Poll: -1, Drain: -1}.Validate()
	for _, field := range []string{"Mode", "Poll", "Drain"} {
		if err == nil || !strings.Contains(err.Error(), "WatchConfig."+field) {
			t.Errorf("three bad fields: %v, want it to name %s", err, field)
		}
	}
	got := WatchConfig{}.withDefaults()
	if want := (WatchConfig{Poll: DefaultPoll, Debounce: DefaultDebounce, MaxDelay: DefaultMaxDelay, Grace: DefaultGrace, clock: realClock{}}); !reflect.DeepEqual(got, want) {
		t.Errorf("defaults %+v, want %+v", got, want)
	}
	closed := openFiles(t, nil, Config{})
	closed.Close()
	if _, err := closed.Watch(context.Background(), WatchConfig{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Watch after Close: %v", err)
	}
}
