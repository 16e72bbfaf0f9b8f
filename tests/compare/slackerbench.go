package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/internal/loadgen"
	"github.com/slacker-lua/slacker-lua/transport"
)

// slacker-lua measured by its own benchmark command, slacker-lua bench,
// as redis-benchmark measures Redis: the Lua functions over msgpack, on a
// server of its own started as the "slacker-lua lua msgpack" row's is,
// from -c callers on one connection. Beside that row, which the harness's
// load generator measures, it shows what a user of bench sees and
// whether bench measures the server rather than itself. Its client CPU
// is bench's own, from its rusage when it has exited.
func init() {
	systems = append(systems, system{
		name: "slacker-lua bench lua msgpack",
		start: func(ctx context.Context, bin string) (*server, error) {
			if _, err := os.Stat(filepath.Join(bin, "slacker-lua")); err != nil {
				return nil, err
			}
			s, err := startServer(ctx, filepath.Join(bin, "slacker-server"))
			if err == nil {
				s.bin = bin
			}
			return s, err
		},
		dial: func(ctx context.Context, s *server, w workload) (loadgen.Call, func(), error) {
			c, err := client.Dial(ctx, s.addr, client.Config{ContentType: transport.ContentMsgpack})
			if err != nil {
				return nil, nil, err
			}
			return slackerCall(c, "bench", w), func() { c.Close() }, nil
		},
		bench: slackerBench,
	})
}

func slackerBench(ctx context.Context, s *server, w workload, callers int, calls int64) (benchRun, error) {
	args := []string{"bench", "--json", "--warmup", "0s", "-c", strconv.Itoa(callers), "-n", strconv.FormatInt(calls, 10),
		"--content-type", "msgpack", s.addr}
	switch w {
	case addWork:
		args = append(args, "bench/add", "1", "2")
	default:
		arg, _ := json.Marshal(echoArg)
		args = append(args, "bench/echo", string(arg))
	}
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, "slacker-lua"), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // dies with the harness
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return benchRun{}, fmt.Errorf("slacker-lua bench: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	r, err := parseSlackerBench(out)
	if err != nil {
		return benchRun{}, fmt.Errorf("slacker-lua bench: %w", err)
	}
	r.clientCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	r.summary = fmt.Sprintf("%.0f calls/s, %d calls; latency p50 %v, p99 %v (slacker-lua bench; its own CPU/call %v)",
		r.rate, r.calls, r.p50, r.p99, r.ownCPU)
	return r, nil
}

// parseSlackerBench reads the figures of slacker-lua bench --json.
func parseSlackerBench(out []byte) (benchRun, error) {
	var res struct {
		Calls       int64   `json:"calls"`
		Errors      int64   `json:"errors"`
		FirstError  string  `json:"first_error"`
		CallsPerSec float64 `json:"calls_per_second"`
		P50         float64 `json:"p50_us"`
		P99         float64 `json:"p99_us"`
		CPUPerCall  float64 `json:"cpu_per_call_us"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return benchRun{}, err
	}
	if res.Errors > 0 {
		return benchRun{}, fmt.Errorf("%d calls failed; the first: %s", res.Errors, res.FirstError)
	}
	if res.Calls <= 0 || !(res.CallsPerSec > 0) || math.IsInf(res.CallsPerSec, 0) {
		return benchRun{}, errors.New("no calls measured")
	}
	us := func(f float64) time.Duration { return time.Duration(math.Round(f * float64(time.Microsecond))) }
	return benchRun{calls: res.Calls, rate: res.CallsPerSec, p50: us(res.P50), p99: us(res.P99), ownCPU: us(res.CPUPerCall)}, nil
}
