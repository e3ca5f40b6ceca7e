package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/go-analyze/charts/chartdraw"
	"github.com/go-analyze/charts/chartdraw/drawing"
)

// The chart files, written by writeCharts and shown in BENCHMARKS.md.
const (
	latencyChartFile = "latency-distribution.svg"
	scaleChartFile   = "scale.svg"
	refreshChartFile = "refresh-throughput.svg"
	connChartFile    = "connections.svg"
)

// targetNames are the legend's names for the proxy targets.
var targetNames = map[string]string{
	"direct":         "upstream directly",
	"grantd-header":  "grantd (token in a header)",
	"grantd-query":   "grantd (token in the query)",
	"grantd-apikey":  "grantd (called with an API key)",
	"grantd-peruser": "grantd (per-user connection)",
	"baseline":       "net/http ReverseProxy + x/oauth2",
	"forwarder":      "bare fasthttp forwarder",
}

// targetColors keep one colour per target across charts: grantd blue,
// the two other proxies green and red, the upstream alone grey.
var targetColors = map[string]drawing.Color{
	"direct":        drawing.ColorFromHex("7f7f7f"),
	"grantd-header": drawing.ColorFromHex("1f77b4"),
	"grantd-query":  drawing.ColorFromHex("9467bd"),
	"baseline":      drawing.ColorFromHex("d62728"),
	"forwarder":     drawing.ColorFromHex("2ca02c"),
}

// palette colours series that are not targets, in order.
var palette = []drawing.Color{
	drawing.ColorFromHex("1f77b4"), drawing.ColorFromHex("ff7f0e"), drawing.ColorFromHex("2ca02c"),
	drawing.ColorFromHex("d62728"), drawing.ColorFromHex("9467bd"), drawing.ColorFromHex("8c564b"),
}

// runCharts is the charts subcommand: it reads a bench.json and writes the
// SVG charts next to each other in a folder.
func runCharts(args []string) error {
	fs := flag.NewFlagSet("charts", flag.ExitOnError)
	in := fs.String("in", "bin/bench.json", "the results written by grantd-bench -out")
	out := fs.String("out", "docs/bench", "folder for the SVG charts")
	fs.Parse(args)
	b, err := os.ReadFile(*in)
	if err != nil {
		return err
	}
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("%s: %w", *in, err)
	}
	written, err := writeCharts(&r, *out)
	for _, f := range written {
		fmt.Println("wrote", f)
	}
	return err
}

// errNoData is returned by a chart whose data the report does not hold
// (a run of one part only, or a file from an older grantd-bench).
var errNoData = errors.New("no data for this chart in the results")

// writeCharts writes every chart that r has data for into dir, creating
// it, and returns the paths written. Charts without data are skipped with
// a note on stderr; any other failure is returned.
func writeCharts(r *report, dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var written []string
	for _, c := range []struct {
		file  string
		chart func(*report) (chartdraw.Chart, error)
	}{
		{latencyChartFile, latencyChart},
		{scaleChartFile, scaleChart},
		{refreshChartFile, refreshChart},
		{connChartFile, connChart},
	} {
		ch, err := c.chart(r)
		if errors.Is(err, errNoData) {
			fmt.Fprintf(os.Stderr, "grantd-bench: %s: %v\n", c.file, err)
			continue
		}
		if err != nil {
			return written, fmt.Errorf("%s: %w", c.file, err)
		}
		path := filepath.Join(dir, c.file)
		if err := renderSVG(ch, path); err != nil {
			return written, fmt.Errorf("%s: %w", c.file, err)
		}
		written = append(written, path)
	}
	return written, nil
}

func renderSVG(c chartdraw.Chart, path string) error {
	var buf bytes.Buffer
	if err := c.Render(chartdraw.SVG, &buf); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// baseChart is the look every chart shares: white, wide enough for a
// README, a title and a legend in the plot's top left corner.
func baseChart(title string) chartdraw.Chart {
	white := chartdraw.Style{FillColor: drawing.ColorWhite}
	c := chartdraw.Chart{
		Title:      title,
		TitleStyle: chartdraw.Style{FontStyle: chartdraw.FontStyle{FontSize: 13}},
		Width:      960,
		Height:     520,
		Background: chartdraw.Style{FillColor: drawing.ColorWhite, Padding: chartdraw.Box{Top: 50, Left: 20, Right: 20, Bottom: 20, IsSet: true}},
		Canvas:     white,
	}
	return c
}

// withLegend adds a legend under the x axis, where it hides no data
// (chartdraw's own legends sit inside the plot or in the title's place).
func withLegend(c chartdraw.Chart) chartdraw.Chart {
	c.Background.Padding.Bottom += legendHeight
	c.Elements = append(c.Elements, legendBelow(c.Series))
	return c
}

const (
	legendHeight = 50 // room under the x axis: two rows
	legendOffset = 74 // from the plot's bottom edge to the first row's text baseline, past the tick labels and the axis name
	legendRow    = 18
	legendLine   = 28 // length of the line sample
)

// legendBelow draws one entry per series (its line, then its name) in
// rows under the plot, as many to a row as fit.
func legendBelow(series []chartdraw.Series) chartdraw.Renderable {
	return func(r chartdraw.Renderer, cb chartdraw.Box, defaults chartdraw.Style) {
		st := chartdraw.Style{FontStyle: chartdraw.FontStyle{FontSize: 10, FontColor: chartdraw.DefaultTextColor}}.InheritFrom(defaults)
		st.GetTextOptions().WriteToRenderer(r)
		x, y := cb.Left, cb.Bottom+legendOffset
		for _, s := range series {
			name := s.GetName()
			w := legendLine + 6 + r.MeasureText(name).Width() + 24
			if x > cb.Left && x+w > cb.Right {
				x, y = cb.Left, y+legendRow
			}
			ls := s.GetStyle()
			r.SetStrokeColor(ls.GetStrokeColor())
			r.SetStrokeWidth(ls.GetStrokeWidth())
			r.SetStrokeDashArray(ls.GetStrokeDashArray())
			r.MoveTo(x, y-4)
			r.LineTo(x+legendLine, y-4)
			r.Stroke()
			st.GetTextOptions().WriteToRenderer(r)
			r.Text(name, x+legendLine+6, y)
			x += w
		}
	}
}

func axisName() chartdraw.Style {
	return chartdraw.Style{FontStyle: chartdraw.FontStyle{FontSize: 10}}
}

var grid = chartdraw.Style{StrokeColor: drawing.ColorFromHex("e0e0e0"), StrokeWidth: 1}

func line(color drawing.Color, dashed bool) chartdraw.Style {
	s := chartdraw.Style{StrokeColor: color, StrokeWidth: 2, DotColor: color, DotWidth: 2.5}
	if dashed {
		s.StrokeDashArray = []float64{6, 4}
	}
	return s
}

// percentileX places quantile q on a log scale of 1/(1-q), so that 90,
// 99, 99.9 and 99.99 are evenly spaced and the tail is not squashed.
func percentileX(q float64) float64 { return -math.Log10(1 - q) }

// latencyChart is the latency distribution of each target at the fixed
// rate: latency against percentile.
func latencyChart(r *report) (chartdraw.Chart, error) {
	if len(r.Latency) == 0 {
		return chartdraw.Chart{}, errNoData
	}
	first := r.Latency[0]
	c := baseChart(fmt.Sprintf("Latency distribution at a fixed %s req/s over %d connections (open loop, %s requests per target)",
		thousands(int(first.Rate)), first.Conns, thousands(first.Samples)))
	maxX, maxQ := 0.0, 0.0
	for _, ld := range r.Latency {
		var xs, ys []float64
		for _, p := range ld.Percentiles {
			// Only the quantiles the samples resolve: at least one
			// request above each.
			if p.Q >= 1 || (1-p.Q)*float64(ld.Samples) < 1 {
				continue
			}
			xs = append(xs, percentileX(p.Q))
			ys = append(ys, float64(p.Latency)/float64(time.Millisecond))
			if xs[len(xs)-1] > maxX {
				maxX, maxQ = xs[len(xs)-1], p.Q
			}
		}
		if len(xs) == 0 {
			continue
		}
		c.Series = append(c.Series, chartdraw.ContinuousSeries{Name: targetName(ld.Target), XValues: xs, YValues: ys,
			Style: line(targetColor(ld.Target, len(c.Series)), false)})
	}
	if len(c.Series) == 0 {
		return chartdraw.Chart{}, errNoData
	}
	var ticks []chartdraw.Tick
	for _, t := range []struct {
		q     float64
		label string
	}{{0, "0"}, {0.5, "50"}, {0.9, "90"}, {0.99, "99"}, {0.999, "99.9"}, {0.9999, "99.99"}} {
		if x := percentileX(t.q); x <= maxX+1e-9 {
			ticks = append(ticks, chartdraw.Tick{Value: x, Label: t.label})
		}
	}
	if last := ticks[len(ticks)-1].Value; maxX > last+1e-9 {
		// The range ends at the last tick: one at the highest percentile
		// the samples resolve.
		ticks = append(ticks, chartdraw.Tick{Value: maxX, Label: strconv.FormatFloat(maxQ*100, 'f', -1, 64)})
	}
	c.XAxis = chartdraw.XAxis{Name: "percentile (%), on a log scale of 1/(1 − p)", NameStyle: axisName(), Ticks: ticks, GridMajorStyle: grid}
	leftAxis(&c, "latency (ms)")
	return withLegend(c), nil
}

// scaleChart is time to ready (left axis) and resident memory (right axis)
// against the number of datasources, on a log scale of the count.
func scaleChart(r *report) (chartdraw.Chart, error) {
	if len(r.Scale) == 0 {
		return chartdraw.Chart{}, errNoData
	}
	var xs, ready, firstReady, rss, rssFill []float64
	var ticks []chartdraw.Tick
	for _, s := range r.Scale {
		x := math.Log10(float64(s.Datasources))
		xs = append(xs, x)
		ticks = append(ticks, chartdraw.Tick{Value: x, Label: thousands(s.Datasources)})
		ready = append(ready, s.Ready.Seconds())
		firstReady = append(firstReady, s.FirstReady.Seconds())
		rss = append(rss, float64(s.RSS)/(1<<20))
		rssFill = append(rssFill, float64(s.RSSAfterFill)/(1<<20))
	}
	c := baseChart("Start-up time and resident memory against the number of client-credentials datasources")
	c.Series = []chartdraw.Series{
		chartdraw.ContinuousSeries{Name: "start to ready, every token stored (s, left axis)", XValues: xs, YValues: ready, YAxis: chartdraw.YAxisSecondary, Style: line(palette[0], false)},
		chartdraw.ContinuousSeries{Name: "start to ready, no tokens yet (s, left axis)", XValues: xs, YValues: firstReady, YAxis: chartdraw.YAxisSecondary, Style: line(palette[1], false)},
		chartdraw.ContinuousSeries{Name: "resident memory after ready (MiB, right axis)", XValues: xs, YValues: rss, Style: line(palette[2], true)},
		chartdraw.ContinuousSeries{Name: "resident memory after the fill (MiB, right axis)", XValues: xs, YValues: rssFill, Style: line(palette[4], true)},
	}
	// The range runs from the first tick to the last: unlabelled ones
	// leave a margin around the counts (and give one count a width).
	lo, hi := slices.Min(xs), slices.Max(xs)
	ticks = append(ticks, chartdraw.Tick{Value: lo - 0.25}, chartdraw.Tick{Value: hi + 0.25})
	c.XAxis = chartdraw.XAxis{Name: "client-credentials datasources (log scale)", NameStyle: axisName(), Ticks: ticks, GridMajorStyle: grid}
	c.YAxisSecondary = chartdraw.YAxis{Name: "time to ready (s)", NameStyle: axisName(), GridMajorStyle: grid,
		Ticks: niceTicks(seriesMax(c.Series, chartdraw.YAxisSecondary, false))}
	c.YAxis = chartdraw.YAxis{Name: "resident memory (MiB)", NameStyle: axisName(),
		Ticks: niceTicks(seriesMax(c.Series, chartdraw.YAxisPrimary, false))}
	return withLegend(c), nil
}

// connChart is time to ready and resident memory against the number of
// per-user connections on bbolt.
func connChart(r *report) (chartdraw.Chart, error) {
	if len(r.Connections) == 0 {
		return chartdraw.Chart{}, errNoData
	}
	var xs, ready, restart, rss []float64
	var ticks []chartdraw.Tick
	for _, s := range r.Connections {
		x := math.Log10(float64(s.Connections))
		xs = append(xs, x)
		ticks = append(ticks, chartdraw.Tick{Value: x, Label: thousands(s.Connections)})
		ready = append(ready, s.Ready.Seconds())
		restart = append(restart, s.Restarted.Seconds())
		rss = append(rss, float64(s.RSS)/(1<<20))
	}
	c := baseChart("Start-up time and resident memory against the number of per-user connections (bbolt)")
	c.Series = []chartdraw.Series{
		chartdraw.ContinuousSeries{Name: "start to ready, every token due (s, left axis)", XValues: xs, YValues: ready, YAxis: chartdraw.YAxisSecondary, Style: line(palette[0], false)},
		chartdraw.ContinuousSeries{Name: "restart to ready, every token fresh (s, left axis)", XValues: xs, YValues: restart, YAxis: chartdraw.YAxisSecondary, Style: line(palette[1], false)},
		chartdraw.ContinuousSeries{Name: "resident memory after the refresh wave (MiB, right axis)", XValues: xs, YValues: rss, Style: line(palette[2], true)},
	}
	lo, hi := slices.Min(xs), slices.Max(xs)
	ticks = append(ticks, chartdraw.Tick{Value: lo - 0.25}, chartdraw.Tick{Value: hi + 0.25})
	c.XAxis = chartdraw.XAxis{Name: "per-user connections on one datasource (log scale)", NameStyle: axisName(), Ticks: ticks, GridMajorStyle: grid}
	c.YAxisSecondary = chartdraw.YAxis{Name: "time to ready (s)", NameStyle: axisName(), GridMajorStyle: grid,
		Ticks: niceTicks(seriesMax(c.Series, chartdraw.YAxisSecondary, false))}
	c.YAxis = chartdraw.YAxis{Name: "resident memory (MiB)", NameStyle: axisName(),
		Ticks: niceTicks(seriesMax(c.Series, chartdraw.YAxisPrimary, false))}
	return withLegend(c), nil
}

// refreshChart is tokens obtained and persisted per second during each
// scale run's fill, against time since grantd started filling.
func refreshChart(r *report) (chartdraw.Chart, error) {
	c := baseChart("Refresh throughput: tokens obtained and persisted per second, datasources filled at first start and per-user connections refreshed")
	for i, s := range r.Scale {
		xs, ys := fillRates(s.FillTimeline)
		if len(xs) == 0 {
			continue
		}
		name := fmt.Sprintf("%s datasources (mean %s/s)", thousands(s.Datasources), thousands(int(math.Round(s.FillRate))))
		st := line(palette[i%len(palette)], false)
		st.DotWidth = 0
		c.Series = append(c.Series, chartdraw.ContinuousSeries{Name: name, XValues: xs, YValues: ys, Style: st})
	}
	add := func(name string, tl []fillSample, dashed bool) {
		xs, ys := fillRates(tl)
		if len(xs) == 0 {
			return
		}
		st := line(palette[len(c.Series)%len(palette)], dashed)
		st.DotWidth = 0
		c.Series = append(c.Series, chartdraw.ContinuousSeries{Name: name, XValues: xs, YValues: ys, Style: st})
	}
	for _, s := range r.Connections {
		add(fmt.Sprintf("%s per-user connections, bbolt (mean %s/s)", thousands(s.Connections), thousands(int(math.Round(s.RefreshRate)))), s.RefreshTimeline, true)
	}
	for _, s := range r.Replicas {
		add(fmt.Sprintf("%s connections, %d replicas on etcd, one killed (mean %s/s)", thousands(s.Connections), s.Replicas, thousands(int(math.Round(s.RefreshRate)))), s.RefreshTimeline, true)
	}
	if len(c.Series) == 0 {
		return chartdraw.Chart{}, errNoData
	}
	c.XAxis = chartdraw.XAxis{Name: "time since grantd was ready (s)", NameStyle: axisName(), GridMajorStyle: grid,
		Ticks: niceTicks(seriesMax(c.Series, chartdraw.YAxisPrimary, true))}
	leftAxis(&c, "refreshes per second")
	return withLegend(c), nil
}

// fillRates turns the authorized count over time into a rate per window:
// windows of at least a thirtieth of the fill (and at least 200 ms, at
// most 1 s), each point at the window's middle.
func fillRates(tl []fillSample) (xs, ys []float64) {
	if len(tl) < 2 {
		return nil, nil
	}
	w := min(max(tl[len(tl)-1].T/30, 200*time.Millisecond), time.Second)
	from := tl[0]
	for i, s := range tl[1:] {
		if s.T-from.T < w && i+2 < len(tl) {
			continue
		}
		d := (s.T - from.T).Seconds()
		if d <= 0 {
			continue
		}
		xs = append(xs, (from.T+s.T).Seconds()/2)
		ys = append(ys, float64(s.Authorized-from.Authorized)/d)
		from = s
	}
	return xs, ys
}

// seriesMax is the highest value the series on axis reach (x when x is
// true, else y).
func seriesMax(series []chartdraw.Series, axis chartdraw.YAxisType, x bool) float64 {
	top := 0.0
	for _, s := range series {
		cs, ok := s.(chartdraw.ContinuousSeries)
		if !ok || cs.YAxis != axis {
			continue
		}
		vs := cs.YValues
		if x {
			vs = cs.XValues
		}
		for _, v := range vs {
			top = max(top, v)
		}
	}
	return top
}

// niceTicks are evenly spaced ticks from 0 to a little above hi, at a
// step of 1, 2, 2.5 or 5 times a power of ten, four to eight of them. The
// chart's range is taken from the first and last tick.
func niceTicks(hi float64) []chartdraw.Tick {
	if hi <= 0 || math.IsNaN(hi) || math.IsInf(hi, 0) {
		hi = 1
	}
	hi *= 1.05
	raw := hi / 5
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * p
	for _, m := range []float64{1, 2, 2.5, 5} {
		if m*p >= raw {
			step = m * p
			break
		}
	}
	// Enough decimals to tell the ticks apart (2.5 × 10⁻¹ needs two).
	dec := max(0, -int(math.Floor(math.Log10(step)+1e-9)))
	if m := step / math.Pow(10, math.Floor(math.Log10(step)+1e-9)); math.Abs(m-2.5) < 1e-9 && step < 10 {
		dec++
	}
	var ticks []chartdraw.Tick
	for i := 0; ; i++ {
		v := float64(i) * step
		ticks = append(ticks, chartdraw.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', dec, 64)})
		if v >= hi-1e-9*step {
			return ticks
		}
	}
}

// leftAxis draws the series of a chart with one y axis against an axis on
// the left: chartdraw's primary axis is on the right, its secondary on the
// left, so the series go to the secondary and the primary is hidden.
func leftAxis(c *chartdraw.Chart, name string) {
	for i, s := range c.Series {
		cs := s.(chartdraw.ContinuousSeries)
		cs.YAxis = chartdraw.YAxisSecondary
		c.Series[i] = cs
	}
	ticks := niceTicks(seriesMax(c.Series, chartdraw.YAxisSecondary, false))
	c.YAxisSecondary = chartdraw.YAxis{Name: name, NameStyle: axisName(), GridMajorStyle: grid, Ticks: ticks}
	c.YAxis = chartdraw.YAxis{Style: chartdraw.Hidden(), Ticks: ticks}
}

func targetName(t string) string {
	if n, ok := targetNames[t]; ok {
		return n
	}
	return t
}

func targetColor(t string, i int) drawing.Color {
	if c, ok := targetColors[t]; ok {
		return c
	}
	return palette[i%len(palette)]
}

// thousands formats n with commas between groups of three digits.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
