package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSlackerBench runs the row's real commands, slacker-lua bench against
// slacker-server, both built for the test, for both workloads.
func TestSlackerBench(t *testing.T) {
	if testing.Short() {
		t.Skip("builds slacker-lua and slacker-server")
	}
	bin := t.TempDir()
	for _, b := range []struct{ dir, pkg string }{{"../..", "./cmd/slacker-lua"}, {".", "./cmd/slacker-server"}} {
		cmd := exec.Command("go", "build", "-o", bin+string(filepath.Separator), b.pkg)
		cmd.Dir = b.dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b.pkg, err, out)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var sys system
	for _, s := range systems {
		if s.name == "slacker-lua bench lua msgpack" {
			sys = s
		}
	}
	srv, err := sys.start(ctx, bin)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.stop()
	for _, w := range allWorkloads {
		r, err := sys.bench(ctx, srv, w, 8, 2000)
		if err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		if r.calls != 2000 || r.rate <= 0 || r.p50 <= 0 || r.p99 < r.p50 || r.ownCPU <= 0 || r.clientCPU <= 0 {
			t.Fatalf("%s: %+v", w.name, r)
		}
	}
	if _, err := sys.bench(ctx, &server{addr: srv.addr, bin: bin}, workload{"add"}, 0, 10); err == nil || !strings.Contains(err.Error(), "bad -c 0") {
		t.Fatalf("bench refusing its flags: %v, want its message", err)
	}
}

func TestParseSlackerBench(t *testing.T) {
	good := `{"calls":5000,"errors":0,"seconds":0.02,"calls_per_second":250000,"p50_us":190.5,"p99_us":512,"p99.9_us":900,"max_us":1000,"cpu_per_call_us":2.25}`
	r, err := parseSlackerBench([]byte(good + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (benchRun{calls: 5000, rate: 250000, p50: 190500 * time.Nanosecond, p99: 512 * time.Microsecond, ownCPU: 2250 * time.Nanosecond}); r != want {
		t.Fatalf("parseSlackerBench = %+v, want %+v", r, want)
	}
	for _, bad := range []string{"", "5000 calls", `{"calls":0,"calls_per_second":0}`,
		`{"calls":10,"errors":2,"first_error":"bench/add: not found","calls_per_second":5}`} {
		if r, err := parseSlackerBench([]byte(bad)); err == nil {
			t.Errorf("parseSlackerBench(%q) = %+v, want an error", bad, r)
		}
	}
	if _, err := parseSlackerBench([]byte(`{"calls":10,"errors":2,"first_error":"bench/add: not found","calls_per_second":5}`)); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("a run with failed calls: %v, want the first error", err)
	}
}
