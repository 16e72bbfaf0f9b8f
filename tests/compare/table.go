package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/slacker-lua/slacker-lua/internal/loadgen"
)

// printTable prints a row per point: calls/s, p50, p99, the CPU per call
// of the server and of the load generator (the client), and the server's
// memory.
func printTable(w io.Writer, points []point) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tcallers\tsystem\tcalls/s\tp50\tp99\tserver CPU/call\tclient CPU/call\tserver RSS\t")
	for _, p := range rows(points) {
		if p.err != nil && p.calls == 0 {
			fmt.Fprintf(tw, "%s\t%d\t%s\tfailed: %v\t\t\t\t\t\t\n", p.workload, p.callers, p.system, p.err)
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%v\t%v\t%v\t%v\t%.1f MiB\t\n", p.workload, p.callers, p.system,
			thousands(p.rate), loadgen.Round(p.p50), loadgen.Round(p.p99),
			p.cpuPerCall.Round(100*time.Nanosecond), p.clientCPUPerCall.Round(100*time.Nanosecond), float64(p.rss)/(1<<20))
	}
	tw.Flush()
}

// thousands formats n with commas: 123,456.
func thousands(n float64) string {
	s := fmt.Sprintf("%.0f", n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
