package main

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestErrorLog(t *testing.T) {
	var out bytes.Buffer
	h := errorLog(slog.New(slog.NewTextHandler(&out, nil)), time.Hour)
	for range 5 {
		h(errors.New("collector down"))
	}
	if n := strings.Count(out.String(), "cannot send spans"); n != 1 {
		t.Errorf("%d lines for 5 errors within the interval:\n%s", n, out.String())
	}
	h = errorLog(slog.New(slog.NewTextHandler(&out, nil)), 0)
	out.Reset()
	h(errors.New("a"))
	h(errors.New("b"))
	if n := strings.Count(out.String(), "cannot send spans"); n != 2 {
		t.Errorf("%d lines with no interval", n)
	}
}

func TestTracingFlags(t *testing.T) {
	for _, tc := range []struct {
		f   tracingFlags
		set bool // --trace-sample given
		ok  bool
	}{
		{tracingFlags{}, false, true},
		{tracingFlags{sample: 0.5}, true, false}, // without --otlp-endpoint
		{tracingFlags{endpoint: "http://127.0.0.1:9", sample: 1.5}, true, false},
		{tracingFlags{endpoint: "127.0.0.1:9", sample: 1}, false, false},
		{tracingFlags{endpoint: "http://127.0.0.1:9", sample: 0.01}, true, true},
	} {
		set := tc.set
		tc.f.set = func(string) bool { return set }
		tp, stop, err := tc.f.provider("127.0.0.1:7", slog.New(slog.DiscardHandler))
		if (err == nil) != tc.ok {
			t.Errorf("%+v: %v", tc.f, err)
		}
		if err == nil {
			if (tp != nil) != (tc.f.endpoint != "") {
				t.Errorf("%+v: provider %v", tc.f, tp)
			}
			stop()
		}
	}
}
