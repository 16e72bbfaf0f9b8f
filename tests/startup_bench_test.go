package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkStartup measures a server of many namespaces: b.N files, a
// hundred to a folder, each a namespace of two functions, served by
// `slacker-lua serve` with the default pool size; reported are the time
// from the start of the process to its listening, and its resident
// memory then.
//
//	go test -run '^$' -bench Startup -benchtime 10000x ./tests/
func BenchmarkStartup(b *testing.B) {
	dir := b.TempDir()
	for i := range b.N {
		sub := filepath.Join(dir, "svc", fmt.Sprintf("g%03d", i/100))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			b.Fatal(err)
		}
		src := fmt.Sprintf(`-- Namespace %d.
local M = {}

-- Adds two numbers.
function M.add(a, b) return a + b end

-- Greets someone.
function M.hello(name) return "hello " .. name .. " from %d" end

return M
`, i, i)
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("ns%05d.lua", i)), []byte(src), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	binary(b) // built before the clock starts
	b.ResetTimer()
	start := time.Now()
	s := startCLI(b, dir)
	took := time.Since(start)
	b.StopTimer()
	last := fmt.Sprintf("svc.g%03d.ns%05d/hello", (b.N-1)/100, b.N-1)
	if stdout, stderr, code := cli(b, "call", s.addr, last, `"x"`); code != 0 {
		b.Fatalf("%s: exit %d %s%s", last, code, stdout, stderr)
	}
	b.ReportMetric(took.Seconds(), "start-s")
	b.ReportMetric(float64(procStatus(b, s.cmd.Process.Pid, "VmRSS"))/(1<<20), "RSS-MiB")
}
