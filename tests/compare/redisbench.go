package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// Redis driven by its own C client, redis-benchmark (Debian's
// redis-tools, which redis-server depends on): what a Redis user would
// measure. It calls the same functions as the go-redis row with FCALL,
// on a redis-server of its own started as that row's is, from one
// connection per caller (redis-benchmark -c), one request at a time on
// each (no -P), in one thread (no --threads).
//
// redis-benchmark makes a count of calls (-n), so benchPoint sizes that
// count from the warm-up runs for the measured run to take about -d.
// Its figures are those of its --csv output: calls/s, p50 and p99 (to
// the microsecond). The client CPU is redis-benchmark's own, from its
// rusage when it has exited.
func init() {
	systems = append(systems, system{
		name: "redis-benchmark FCALL",
		start: func(ctx context.Context, bin string) (*server, error) {
			if _, err := exec.LookPath("redis-benchmark"); err != nil {
				return nil, err
			}
			return startRedis(ctx, bin)
		},
		dial:  dialRedis,
		bench: redisBenchmark,
	})
}

func redisBenchmark(ctx context.Context, s *server, w workload, callers int, calls int64) (benchRun, error) {
	host, port, err := net.SplitHostPort(s.addr)
	if err != nil {
		return benchRun{}, err
	}
	args := []string{"-h", host, "-p", port, "-c", strconv.Itoa(callers),
		"-n", strconv.FormatInt(calls, 10), "--csv", "FCALL"}
	switch w {
	case addWork:
		args = append(args, "add", "0", "1", "2")
	default:
		args = append(args, "echo", "0", echoArg)
	}
	cmd := exec.CommandContext(ctx, "redis-benchmark", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // dies with the harness
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return benchRun{}, fmt.Errorf("redis-benchmark: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	r, err := parseRedisBenchmark(out)
	if err != nil {
		return benchRun{}, fmt.Errorf("redis-benchmark: %w", err)
	}
	r.calls = calls
	r.clientCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	r.summary = fmt.Sprintf("%.0f calls/s, %d calls; latency p50 %v, p99 %v (redis-benchmark)", r.rate, r.calls, r.p50, r.p99)
	return r, nil
}

// redisBenchmarkColumns are the columns of redis-benchmark's --csv
// output that the table shows, as its header names them.
var redisBenchmarkColumns = []string{"test", "rps", "p50_latency_ms", "p99_latency_ms"}

// parseRedisBenchmark reads the rate, p50 and p99 of the one test of
// redis-benchmark's --csv output: a header line, then a line per test,
// every field quoted. Lines before the header are skipped.
func parseRedisBenchmark(out []byte) (benchRun, error) {
	rd := csv.NewReader(bytes.NewReader(out))
	rd.FieldsPerRecord = -1
	records, err := rd.ReadAll()
	if err != nil {
		return benchRun{}, err
	}
	h := slices.IndexFunc(records, func(rec []string) bool { return slices.Contains(rec, "test") })
	if h < 0 {
		return benchRun{}, errors.New("no CSV header in the output")
	}
	header, rows := records[h], records[h+1:]
	if len(rows) != 1 {
		return benchRun{}, fmt.Errorf("%d tests in the output, want 1", len(rows))
	}
	var v [3]float64
	for i, name := range redisBenchmarkColumns[1:] {
		j := slices.Index(header, name)
		if j < 0 {
			return benchRun{}, fmt.Errorf("no column %q", name)
		}
		if j >= len(rows[0]) {
			return benchRun{}, fmt.Errorf("no %s in %q", name, rows[0])
		}
		if v[i], err = strconv.ParseFloat(rows[0][j], 64); err != nil || !(v[i] >= 0) || math.IsInf(v[i], 0) {
			return benchRun{}, fmt.Errorf("bad %s %q", name, rows[0][j])
		}
	}
	ms := func(f float64) time.Duration { return time.Duration(math.Round(f*1000)) * time.Microsecond }
	return benchRun{rate: v[0], p50: ms(v[1]), p99: ms(v[2])}, nil
}
