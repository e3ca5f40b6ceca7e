package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const benchAdminToken = "bench-admin-token-0123456789abcdef"

// grantdProc is the real grantd binary serving on a data dir.
type grantdProc struct {
	cmd     *exec.Cmd
	url     string
	started time.Time
	ready   time.Duration // exec to /readyz 200
}

func startGrantd(ctx context.Context, o options, dataDir, masterKey string, extra ...string) (*grantdProc, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	args := append([]string{"serve", "--addr", addr, "--data-dir", dataDir, "--allow-private-networks", "--log-level", "warn"}, extra...)
	cmd := exec.CommandContext(ctx, o.grantd, args...)
	cmd.Env = append(os.Environ(), "GRANTD_ADMIN_TOKEN="+benchAdminToken, "GRANTD_MASTER_KEY="+masterKey)
	cmd.Stderr = os.Stderr
	p := &grantdProc{cmd: cmd, url: "http://" + addr, started: time.Now()}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w (run make build first)", o.grantd, err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(p.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				p.ready = time.Since(p.started)
				return p, nil
			}
		}
		time.Sleep(5 * time.Millisecond) // benchmark polling, not a test
	}
	cmd.Process.Kill()
	return nil, fmt.Errorf("grantd not ready after 60s")
}

func (p *grantdProc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

func (p *grantdProc) api(method, path string, body any) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, p.url+path, r)
	req.Header.Set("Authorization", "Bearer "+benchAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, nil
}

// metric reads one sample of grantd's /metrics.
func (p *grantdProc) metric(name string) (float64, error) {
	_, b, err := p.api("GET", "/metrics", nil)
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, name+" ") {
			return strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(l, name)), 64)
		}
	}
	return 0, nil
}

// procStat is a process's CPU time and resident memory from /proc.
type procStat struct {
	cpu time.Duration
	rss int64 // bytes
}

func readProc(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	st := procStat{cpu: time.Duration(utime+stime) * time.Second / 100} // USER_HZ is 100 on Linux
	s, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err == nil {
		for _, l := range strings.Split(string(s), "\n") {
			if strings.HasPrefix(l, "VmRSS:") {
				var kb int64
				fmt.Sscanf(strings.TrimPrefix(l, "VmRSS:"), "%d", &kb)
				st.rss = kb << 10
			}
		}
	}
	return st, nil
}
