package main

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// loadResult is one wrk run.
type loadResult struct {
	RPS      float64       `json:"rps"`
	P50      time.Duration `json:"p50"`
	P99      time.Duration `json:"p99"`
	Errors   int           `json:"errors"`   // socket errors + non-2xx
	LoadCPU  float64       `json:"loadCpu"`  // wrk's CPU use, fraction of one core
	Requests int           `json:"requests"` // completed
	// ServerCPU is the CPU time the serving process (the proxy, or the
	// upstream for direct) spent per completed request: what each
	// proxy costs, independent of how the two cores were shared.
	ServerCPU time.Duration `json:"serverCpu,omitempty"`
}

var (
	reRPS    = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	reLat    = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$`)
	reNon2xx = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	reSock   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	reReqs   = regexp.MustCompile(`(\d+) requests in`)
)

// target is what a load generator calls: a URL and the headers a caller
// sends (by default the admin token as Bearer, as grantd's callers do).
type target struct {
	url     string
	headers [][2]string
	pid     int // the serving process, for its CPU per request; 0: not measured
}

// servedBy is t with the process that serves it.
func (t target) servedBy(pid int) target { t.pid = pid; return t }

// at is a target with the admin token.
func at(url string, hdr ...string) target {
	t := target{url: url, headers: [][2]string{{"Authorization", "Bearer " + benchAdminToken}}}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Authorization" {
			t.headers[0][1] = hdr[i+1]
			continue
		}
		t.headers = append(t.headers, [2]string{hdr[i], hdr[i+1]})
	}
	return t
}

// runWrk runs wrk with one thread (one core) against t with conns
// connections for d.
func runWrk(ctx context.Context, o options, t target, conns int, d time.Duration) (loadResult, error) {
	args := []string{"-t1", "-c" + strconv.Itoa(conns), "-d" + d.String(), "--latency"}
	for _, h := range t.headers {
		args = append(args, "-H", h[0]+": "+h[1])
	}
	args = append(args, t.url)
	name := "wrk"
	if o.pinLoadgen {
		args = append([]string{"-c", strconv.Itoa(runtime.NumCPU() - 1), "wrk"}, args...)
		name = "taskset"
	}
	cmd := exec.CommandContext(ctx, name, args...)
	var before procStat
	if t.pid != 0 {
		before, _ = readProc(t.pid)
	}
	start := time.Now()
	out, err := cmd.CombinedOutput()
	wall := time.Since(start)
	var after procStat
	if t.pid != 0 {
		after, _ = readProc(t.pid)
	}
	if err != nil {
		return loadResult{}, fmt.Errorf("wrk: %v: %s", err, out)
	}
	s := string(out)
	var r loadResult
	if m := reRPS.FindStringSubmatch(s); m != nil {
		r.RPS, _ = strconv.ParseFloat(m[1], 64)
	}
	for _, m := range reLat.FindAllStringSubmatch(s, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[m[3]]
		dur := time.Duration(v * float64(unit))
		if m[1] == "50" {
			r.P50 = dur
		} else {
			r.P99 = dur
		}
	}
	if m := reNon2xx.FindStringSubmatch(s); m != nil {
		n, _ := strconv.Atoi(m[1])
		r.Errors += n
	}
	if m := reSock.FindStringSubmatch(s); m != nil {
		for _, x := range m[1:] {
			n, _ := strconv.Atoi(x)
			r.Errors += n
		}
	}
	if m := reReqs.FindStringSubmatch(s); m != nil {
		r.Requests, _ = strconv.Atoi(m[1])
	}
	if ps := cmd.ProcessState; ps != nil {
		r.LoadCPU = float64(ps.UserTime()+ps.SystemTime()) / float64(wall)
	}
	if t.pid != 0 && r.Requests > 0 {
		r.ServerCPU = (after.cpu - before.cpu) / time.Duration(r.Requests)
	}
	if r.RPS == 0 {
		return r, fmt.Errorf("wrk printed no rate: %s", strings.TrimSpace(s))
	}
	return r, nil
}
