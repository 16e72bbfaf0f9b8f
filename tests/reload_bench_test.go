package tests

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/engine"
	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/namespaces"
)

// BenchmarkReload measures hot reload end to end, for a namespace of a few
// lines and for one of 2,000: a server watches a real folder with the
// default WatchConfig, and each iteration writes a new version of the
// file, in place and by renaming a temporary file over it in turn, then
// calls ns/version through the Go client, one call after another, until
// the new version answers. One reload is the time from just before the
// write to the return of that call: the file events, the debounce (10ms),
// the look through the folder, and compiling and loading the file.
//
// It reports the reloads' p50, p99 and max, and the same of the compile
// and load alone ("load-", the Took of the watcher's Updated events).
// Every iteration is one reload, so ask for enough of them for a p99:
//
//	go test -run '^$' -bench Reload -benchtime 300x ./tests/
func BenchmarkReload(b *testing.B) {
	for _, src := range []func(version int64) string{smallNamespace, bigNamespace} {
		b.Run(fmt.Sprintf("lines=%d", strings.Count(src(0), "\n")), func(b *testing.B) {
			benchReload(b, src)
		})
	}
}

// reloadTimeout bounds how long one reload may take before the benchmark
// fails.
const reloadTimeout = 5 * time.Second

// benchReload serves the namespace ns, whose source src(v) answers v from
// ns/version, and reloads it b.N times.
func benchReload(b *testing.B, src func(version int64) string) {
	dir := testutil.WriteFiles(b, map[string]string{"ns.lua": src(0)})
	path := filepath.Join(dir, "ns.lua")
	tmp := filepath.Join(dir, ".ns.lua.tmp") // hidden: no namespace
	s := serveWatched(b, dir, engine.Config{}, namespaces.WatchConfig{})
	sub := s.reg.Subscribe()
	defer sub.Close()
	c := dial(b, s.addr, client.Config{})
	ctx := context.Background()
	if v := callAs[int64](b, c, "ns/version"); v != 0 {
		b.Fatalf("ns/version = %d before any reload, want 0", v)
	}
	if ev := nextEvent(b, sub); ev.Kind != namespaces.Added || ev.Namespace != "ns" {
		b.Fatalf("first event %v %s, want added ns", ev.Kind, ev.Namespace)
	}

	var reloads, loads []time.Duration
	var version int64
	strays := 0
	for b.Loop() {
		version++
		text := []byte(src(version))
		start := time.Now()
		if version%2 == 1 {
			if err := os.WriteFile(path, text, 0o644); err != nil {
				b.Fatal(err)
			}
		} else {
			if err := os.WriteFile(tmp, text, 0o644); err != nil {
				b.Fatal(err)
			}
			if err := os.Rename(tmp, path); err != nil {
				b.Fatal(err)
			}
		}
		for {
			v, err := client.CallAs[int64](ctx, c, "ns/version")
			if err != nil {
				b.Fatalf("reload to version %d: ns/version: %v", version, err)
			}
			if v == version {
				break
			}
			if v != version-1 {
				b.Fatalf("reload to version %d: ns/version = %d", version, v)
			}
			if time.Since(start) > reloadTimeout {
				b.Fatalf("version %d not served after %v", version, reloadTimeout)
			}
		}
		reloads = append(reloads, time.Since(start))

		took, n := updatedEvent(b, sub, engine.Hash(text))
		loads = append(loads, took)
		strays += n
	}
	b.StopTimer()
	if strays > 0 {
		b.Logf("%d events of other versions than those written (partial reads?)", strays)
	}
	if len(reloads) < 200 {
		b.Logf("only %d reloads: use -benchtime 300x for a p99 worth reading", len(reloads))
	}
	reportPercentiles(b, "", reloads)
	reportPercentiles(b, "load-", loads)
}

// updatedEvent takes the events of sub up to the Updated event of the
// version hash, and returns that event's Took and how many events of other
// versions came before it.
func updatedEvent(b *testing.B, sub *namespaces.Subscription, hash string) (took time.Duration, strays int) {
	b.Helper()
	for {
		ev := nextEvent(b, sub)
		switch {
		case ev.Kind == namespaces.Removed:
			b.Fatalf("ns removed during a reload (%s)", ev.Path)
		case ev.Hash != hash:
			strays++
		case ev.Kind != namespaces.Updated:
			b.Fatalf("%v event for the version written: %v", ev.Kind, ev.Err)
		default:
			return ev.Took, strays
		}
	}
}

func nextEvent(b *testing.B, sub *namespaces.Subscription) namespaces.Event {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), reloadTimeout)
	defer cancel()
	ev, err := sub.Next(ctx)
	if err != nil {
		b.Fatalf("waiting for an event: %v", err)
	}
	return ev
}

// reportPercentiles reports the p50, p99 and max of samples in
// milliseconds, as prefix+"p50-ms" and so on. Percentiles are nearest-rank:
// the p99 of 300 samples is the 297th fastest.
func reportPercentiles(b *testing.B, prefix string, samples []time.Duration) {
	if len(samples) == 0 {
		return
	}
	sorted := slices.Sorted(slices.Values(samples))
	at := func(p float64) time.Duration {
		return sorted[max(int(math.Ceil(p*float64(len(sorted))))-1, 0)]
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(at(0.50)), prefix+"p50-ms")
	b.ReportMetric(ms(at(0.99)), prefix+"p99-ms")
	b.ReportMetric(ms(sorted[len(sorted)-1]), prefix+"max-ms")
}

// smallNamespace is a namespace of a few lines whose version() returns
// version.
func smallNamespace(version int64) string {
	return fmt.Sprintf(`--- version returns the version of this file.
function version() return %d end

--- greet says hello to name.
function greet(name) return "hello, " .. (name or "you") end
`, version)
}

// bigNamespace is a namespace of 2,000 lines whose version() returns
// version: a local helper, 199 documented functions of 10 lines each, of
// four kinds (arithmetic, strings, tables, statistics), and version().
func bigNamespace(version int64) string {
	var sb strings.Builder
	sb.WriteString(`-- A namespace of 2,000 lines, generated by BenchmarkReload.
local M = {}
local function clamp(x, lo, hi)
	if x < lo then return lo elseif x > hi then return hi end
	return x
end

`)
	for i := range 199 {
		switch i % 4 {
		case 0:
			fmt.Fprintf(&sb, `--- sum%03[1]d adds the first n multiples of %[2]d that k does not
--- divide. n defaults to 10 and k to 3.
function M.sum%03[1]d(n, k)
	local sum, n, k = 0, n or 10, k or 3
	for i = 1, n do
		if (i * %[2]d) %% k ~= 0 then sum = sum + i * %[2]d end
	end
	return sum
end

`, i, i+1)
		case 1:
			fmt.Fprintf(&sb, `--- label%03[1]d repeats name count times (1 to 8) as a label of kind
--- %[1]d. An empty name is "anonymous".
function M.label%03[1]d(name, count)
	if name == nil or name == "" then name = "anonymous" end
	local prefix = "kind%[1]d"
	local parts = {}
	for i = 1, clamp(count or 1, 1, 8) do parts[#parts + 1] = name .. "#" .. i end
	return prefix .. ":" .. table.concat(parts, ",")
end

`, i)
		case 2:
			fmt.Fprintf(&sb, `--- pick%03[1]d returns the fields of record named in keys, in order,
--- skipping those it lacks.
function M.pick%03[1]d(record, keys)
	local out = {}
	for _, k in ipairs(keys or {}) do
		if record and record[k] ~= nil then out[#out + 1] = record[k] end
	end
	return out
end

`, i)
		case 3:
			fmt.Fprintf(&sb, `--- mean%03[1]d returns the mean of xs, each clamped to [0, %[1]d], and
--- how many values it took.
function M.mean%03[1]d(xs)
	local total, n = 0, 0
	for _, x in ipairs(xs or {}) do
		total, n = total + clamp(x, 0, %[1]d), n + 1
	end
	return n > 0 and total / n or 0, n
end

`, i)
		}
	}
	fmt.Fprintf(&sb, `--- version returns the version of this file.
function M.version() return %d end
return M
`, version)
	return sb.String()
}
