package main

import (
	"errors"
	"fmt"
	"os"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// chart writes a PNG of two panels per workload run (those that have
// points; a workload not run has none): calls/s and p99 latency against
// callers, a line per system.
func chart(path string, points []point, callers []int) error {
	panels, err := panelsOf(points)
	if err != nil {
		return err
	}
	ticks := make([]plot.Tick, len(callers))
	for i, n := range callers {
		ticks[i] = plot.Tick{Value: float64(n), Label: fmt.Sprint(n)}
	}
	lo, hi := float64(slices.Min(callers)), float64(slices.Max(callers))
	if lo == hi { // one count of callers: a log axis needs a span
		lo, hi = lo/2, hi*2
	}
	for _, row := range panels {
		for _, p := range row {
			p.X.Min, p.X.Max = lo, hi
			p.X.Scale = plot.LogScale{}
			p.X.Tick.Marker = plot.ConstantTicks(ticks)
			p.X.Label.Text = "concurrent callers"
		}
	}

	img := vgimg.New(32*vg.Centimeter, vg.Length(len(panels))*12*vg.Centimeter)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(panels), Cols: 2, PadTop: vg.Centimeter / 2, PadBottom: vg.Centimeter / 2, PadLeft: vg.Centimeter / 2, PadRight: vg.Centimeter / 2}
	canvases := plot.Align(panels, tiles, dc)
	for i, row := range panels {
		for j, p := range row {
			p.Draw(canvases[i][j])
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// panelsOf returns a row of panels per workload of points, in
// workloadsOf's order: calls/s and p99 latency.
func panelsOf(points []point) ([][]*plot.Plot, error) {
	var panels [][]*plot.Plot
	for _, w := range workloadsOf(points) {
		rate := newPanel(fmt.Sprintf("%s: calls/s", w.name), "calls/s")
		p99 := newPanel(fmt.Sprintf("%s: p99 latency", w.name), "ms")
		var rateLines, latLines []any
		positive := true // every latency, so that a log scale can show them
		for _, sys := range systemNames(points) {
			var r, l plotter.XYs
			for _, p := range points {
				if p.system != sys || p.workload != w.name || p.err != nil || p.calls == 0 {
					continue
				}
				ms := float64(p.p99.Microseconds()) / 1000
				positive = positive && ms > 0
				r = append(r, plotter.XY{X: float64(p.callers), Y: p.rate})
				l = append(l, plotter.XY{X: float64(p.callers), Y: ms})
			}
			if len(r) > 0 {
				rateLines = append(rateLines, sys, r)
				latLines = append(latLines, sys, l)
			}
		}
		if err := plotutil.AddLinePoints(rate, rateLines...); err != nil {
			return nil, err
		}
		if err := plotutil.AddLinePoints(p99, latLines...); err != nil {
			return nil, err
		}
		if positive && len(latLines) > 0 {
			p99.Y.Scale = plot.LogScale{}
			p99.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		}
		p99.Legend.Top = true
		p99.Legend.Left = true
		panels = append(panels, []*plot.Plot{rate, p99})
	}
	if len(panels) == 0 {
		return nil, errors.New("no points to chart")
	}
	return panels, nil
}

// workloadsOf returns the workloads that points measured, in the order
// of all the workloads.
func workloadsOf(points []point) []workload {
	var out []workload
	for _, w := range allWorkloads {
		if slices.ContainsFunc(points, func(p point) bool { return p.workload == w.name }) {
			out = append(out, w)
		}
	}
	return out
}

func newPanel(title, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = y
	p.Add(plotter.NewGrid())
	p.Legend.TextStyle.Font.Size = vg.Points(8)
	return p
}

// systemNames are the systems of points, in the table's order.
func systemNames(points []point) []string {
	var names []string
	for _, p := range rows(points) {
		if !slices.Contains(names, p.system) {
			names = append(names, p.system)
		}
	}
	return names
}
