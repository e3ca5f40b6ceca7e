package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// fixtureReport is a small, fixed set of results with data for every
// chart.
func fixtureReport() *report {
	r := &report{Machine: "test", Date: "2026-01-02 03:04 UTC"}
	for i, t := range latencyTargets {
		ld := latencyDistribution{Target: t, Rate: 2000, Conns: 16, Samples: 20000}
		for _, q := range distributionQuantiles {
			// A made-up distribution: a base that grows into a tail.
			lat := time.Duration(float64(600+100*i)*(1+q*q*q*q*20)) * time.Microsecond
			ld.Percentiles = append(ld.Percentiles, percentile{Q: q, Latency: lat})
		}
		r.Latency = append(r.Latency, ld)
	}
	for _, n := range []int{1000, 10000, 100000} {
		s := scaleResult{Datasources: n, FirstReady: time.Duration(n) * 8 * time.Microsecond,
			Ready: time.Duration(n) * 13 * time.Microsecond, RSS: int64(n) * 2600, RSSAfterFill: int64(n) * 2700,
			FillRate: 5000}
		for t := time.Duration(0); t <= time.Duration(n)*200*time.Microsecond; t += 100 * time.Millisecond {
			s.FillTimeline = append(s.FillTimeline, fillSample{T: t, Authorized: int(t / (200 * time.Microsecond))})
		}
		r.Scale = append(r.Scale, s)
	}
	for _, n := range []int{10000, 1000000} {
		c := connScaleResult{Connections: n, Ready: time.Duration(n) * 2 * time.Microsecond, Restarted: time.Duration(n) * time.Microsecond,
			RSS: int64(n) * 1500, RefreshRate: 4000}
		for t := time.Duration(0); t <= time.Duration(n)*250*time.Microsecond; t += 100 * time.Millisecond {
			c.RefreshTimeline = append(c.RefreshTimeline, fillSample{T: t, Authorized: int(t / (250 * time.Microsecond))})
		}
		r.Connections = append(r.Connections, c)
	}
	rep := replicasResult{Connections: 100000, Replicas: 3, RefreshRate: 900}
	for t := time.Duration(0); t <= 2*time.Second; t += 100 * time.Millisecond {
		rep.RefreshTimeline = append(rep.RefreshTimeline, fillSample{T: t, Authorized: int(t / time.Millisecond)})
	}
	r.Replicas = append(r.Replicas, rep)
	return r
}

func TestWriteCharts(t *testing.T) {
	dir := t.TempDir()
	written, err := writeCharts(fixtureReport(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(written), 4; got != want {
		t.Fatalf("wrote %d charts (%v), want %d", got, written, want)
	}
	for _, tc := range []struct {
		file string
		want []string // text the chart must show: title, axes, legend
	}{
		{latencyChartFile, []string{"Latency distribution", "latency (ms)", "percentile",
			"upstream directly", "grantd (token in a header)", "net/http ReverseProxy + x/oauth2", "bare fasthttp forwarder"}},
		{scaleChartFile, []string{"Start-up time", "time to ready (s)", "resident memory (MiB)",
			"client-credentials datasources", "100,000", "start to ready, every token stored"}},
		{refreshChartFile, []string{"Refresh throughput", "refreshes per second", "time since grantd was ready (s)",
			"1,000 datasources", "10,000 datasources", "100,000 datasources",
			"1,000,000 per-user connections, bbolt", "100,000 connections, 3 replicas on etcd"}},
		{connChartFile, []string{"per-user connections", "time to ready (s)", "resident memory (MiB)", "1,000,000",
			"restart to ready, every token fresh"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(dir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			text := svgText(t, b)
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("the chart's text lacks %q; it has:\n%s", w, text)
				}
			}
		})
	}
}

// svgText parses b as XML with an <svg> root and returns the character
// data of its text elements, one per line.
func svgText(t *testing.T, b []byte) string {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	var text strings.Builder
	root := ""
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
		switch v := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = v.Name.Local
			}
		case xml.CharData:
			if s := strings.TrimSpace(string(v)); s != "" {
				text.WriteString(s + "\n")
			}
		}
	}
	if root != "svg" {
		t.Fatalf("root element is %q, want svg", root)
	}
	return text.String()
}

// A run of one part only has no data for some charts: those are skipped,
// the others written.
func TestWriteChartsSkipsWhatIsMissing(t *testing.T) {
	r := fixtureReport()
	r.Scale, r.Connections, r.Replicas = nil, nil, nil
	written, err := writeCharts(r, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(written), 1; got != want || filepath.Base(written[0]) != latencyChartFile {
		t.Fatalf("wrote %v, want only %s", written, latencyChartFile)
	}
}

// The JSON round trip keeps what the charts need, and a file from before
// the scale counts became a list still reads.
func TestReportJSON(t *testing.T) {
	b, err := json.Marshal(fixtureReport())
	if err != nil {
		t.Fatal(err)
	}
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if got, want := len(r.Scale[2].FillTimeline), len(fixtureReport().Scale[2].FillTimeline); got != want {
		t.Errorf("fill timeline: %d samples, want %d", got, want)
	}
	var old report
	if err := json.Unmarshal([]byte(`{"scale":{"datasources":100000,"ready":1340000000}}`), &old); err != nil {
		t.Fatal(err)
	}
	if got, want := len(old.Scale), 1; got != want {
		t.Fatalf("old scale object: %d results, want %d", got, want)
	}
	if got, want := old.Scale[0].Ready, 1340*time.Millisecond; got != want {
		t.Errorf("old scale object: ready %v, want %v", got, want)
	}
}

func TestFillRates(t *testing.T) {
	// 1,000 authorized per second, sampled every 100 ms for 3 s.
	var tl []fillSample
	for ms := 0; ms <= 3000; ms += 100 {
		tl = append(tl, fillSample{T: time.Duration(ms) * time.Millisecond, Authorized: ms})
	}
	xs, ys := fillRates(tl)
	if len(xs) == 0 {
		t.Fatal("no rates")
	}
	for i, y := range ys {
		if y < 999 || y > 1001 {
			t.Errorf("rate %d at %.2f s = %.1f/s, want 1000/s", i, xs[i], y)
		}
	}
}

func TestParseCounts(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
		err  bool
	}{
		{"100000", []int{100000}, false},
		{"1, 16,64", []int{1, 16, 64}, false},
		{"10_000,1_000_000", []int{10000, 1000000}, false},
		{"16,x", nil, true},
		{"0", nil, true},
		{"", nil, true},
	} {
		got, err := parseCounts(tc.in)
		if (err != nil) != tc.err || !slices.Equal(got, tc.want) {
			t.Errorf("parseCounts(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}
