package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/grantd/grantd/crypto"
	"github.com/grantd/grantd/grants/grantstest"
	"github.com/grantd/grantd/internal/testlog"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "grantd-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "grantd")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building grantd: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running grantd.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	URL    string
	stdout testlog.Buffer
	logs   testlog.Buffer
	done   chan error
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs grantd serve on dataDir and waits until it logs that it is
// serving (or exits).
func start(t *testing.T, dataDir string, env ...string) *proc {
	t.Helper()
	return startArgs(t, dataDir, nil, env...)
}

// startArgs is start with extra serve flags.
func startArgs(t *testing.T, dataDir string, args []string, env ...string) *proc {
	t.Helper()
	return startOn(t, dataDir, freePort(t), args, env...)
}

// startOn is startArgs on a given address.
func startOn(t *testing.T, dataDir, addr string, args []string, env ...string) *proc {
	t.Helper()
	p := &proc{t: t, URL: "http://" + addr, done: make(chan error, 1)}
	p.cmd = exec.Command(binary, append([]string{"serve", "--addr", addr, "--data-dir", dataDir, "--allow-private-networks"}, args...)...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = &p.stdout
	stderr, _ := p.cmd.StderrPipe()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	serving := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			line := sc.Text()
			p.logs.Write([]byte(line + "\n"))
			if !once && strings.Contains(line, "grantd serving") {
				once = true
				close(serving)
			}
		}
		p.done <- p.cmd.Wait()
	}()
	select {
	case <-serving:
	case err := <-p.done:
		t.Fatalf("grantd exited: %v\n%s", err, p.logs.String())
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		t.Fatal("grantd did not start")
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop() {
	p.t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			p.t.Fatalf("exit after SIGTERM: %v\n%s", err, p.logs.String())
		}
	case <-time.After(20 * time.Second):
		p.t.Fatal("grantd did not stop on SIGTERM")
	}
	if !strings.Contains(p.logs.String(), "stopped cleanly") {
		p.t.Fatalf("no clean stop:\n%s", p.logs.String())
	}
}

var tokenRE = regexp.MustCompile(`gd_[A-Za-z0-9_-]{43}`)

func (p *proc) call(method, path, token string, body any) (int, []byte) {
	p.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, p.URL+path, r)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestServeRestartRotate is the foundation's acceptance: grantd starts on a
// fresh data dir, prints its admin token once, serves /healthz; a
// datasource written through it is identical after a restart (SIGTERM
// first, a clean stop) and its client secret is absent from the raw
// database file; keys rotate keeps everything readable.
func TestServeRestartRotate(t *testing.T) {
	provider := grantstest.NewProvider(t, grantstest.ProviderOptions{})
	const secret = "client-secret-7c1e4b2a9d"
	provider.AddClient(grantstest.Client{ID: "svc", Secret: secret, Scopes: []string{"api/write"}})
	dir := t.TempDir()

	p := start(t, dir)
	token := tokenRE.FindString(p.stdout.String())
	if token == "" {
		t.Fatalf("no admin token printed: %q", p.stdout.String())
	}
	if code, b := p.call("GET", "/healthz", "", nil); code != 200 || !strings.Contains(string(b), `"ok"`) {
		t.Fatalf("healthz: %d %s", code, b)
	}
	if code, _ := p.call("GET", "/readyz", "", nil); code != 200 {
		t.Fatalf("readyz: %d", code)
	}
	fi, err := os.Stat(filepath.Join(dir, "master.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("master.key: %v %v", fi, err)
	}
	code, b := p.call("POST", "/api/v1/datasources", token, map[string]any{
		"name": "Vectara", "url": provider.URL + "/api",
		"auth": map[string]any{"grantType": "client_credentials", "accessTokenUrl": provider.TokenURL(), "clientId": "svc",
			"clientSecret": secret, "scope": "api/write", "clientAuthentication": "basic"},
	})
	if code != 201 {
		t.Fatalf("create: %d %s", code, b)
	}
	var created map[string]any
	json.Unmarshal(b, &created)
	id := created["id"].(string)
	_, before := p.call("GET", "/api/v1/datasources/"+id, token, nil)
	p.stop()

	raw, err := os.ReadFile(filepath.Join(dir, "grantd.db"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(secret)) {
		t.Fatal("the client secret is in the raw database file")
	}
	if !bytes.Contains(raw, []byte(id)) {
		t.Fatal("sanity: the datasource id should be in the file")
	}

	p = start(t, dir)
	if tokenRE.MatchString(p.stdout.String()) {
		t.Fatal("the admin token was printed again on restart")
	}
	_, after := p.call("GET", "/api/v1/datasources/"+id, token, nil)
	if !bytes.Equal(before, after) {
		t.Fatalf("datasource changed across restart:\n%s\n%s", before, after)
	}
	if code, b := p.call("GET", "/api/v1/datasources/"+id+"/proxy/whoami", token, nil); code != 200 || !strings.Contains(string(b), `"client_id":"svc"`) {
		t.Fatalf("proxy after restart: %d %s", code, b)
	}
	p.stop()

	out, err := exec.Command(binary, "keys", "rotate", "--data-dir", dir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "rotated: 2 keys") {
		t.Fatalf("keys rotate: %v %s", err, out)
	}
	p = start(t, dir)
	_, afterRotate := p.call("GET", "/api/v1/datasources/"+id, token, nil)
	if !bytes.Equal(before, afterRotate) {
		t.Fatalf("datasource changed across rotation:\n%s\n%s", before, afterRotate)
	}
	if code, _ := p.call("POST", "/api/v1/datasources/"+id+"/refresh", token, nil); code != 200 {
		t.Fatal("refresh after rotation failed: the client secret did not survive")
	}
	// keys rotate refuses while the server holds the file.
	out, err = exec.Command(binary, "keys", "rotate", "--data-dir", dir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "stop grantd") {
		t.Fatalf("rotate while serving: %v %s", err, out)
	}
	p.stop()
	if strings.Contains(p.logs.String(), secret) {
		t.Fatal("the client secret is in the logs")
	}
}

func TestMasterKeyFromEnv(t *testing.T) {
	dir := t.TempDir()
	key := crypto.GenerateMasterKey().Encode()
	p := start(t, dir, "GRANTD_MASTER_KEY="+key, "GRANTD_ADMIN_TOKEN=an-admin-token-of-sufficient-length")
	if _, err := os.Stat(filepath.Join(dir, "master.key")); err == nil {
		t.Fatal("a dev master.key was written though GRANTD_MASTER_KEY is set")
	}
	if tokenRE.MatchString(p.stdout.String()) {
		t.Fatal("a token was generated though GRANTD_ADMIN_TOKEN is set")
	}
	if code, _ := p.call("GET", "/api/v1/datasources", "an-admin-token-of-sufficient-length", nil); code != 200 {
		t.Fatalf("env admin token refused: %d", code)
	}
	p.stop()

	// Another master key fails closed, with a clear message.
	cmd := exec.Command(binary, "serve", "--data-dir", dir, "--addr", freePort(t))
	cmd.Env = append(os.Environ(), "GRANTD_MASTER_KEY="+crypto.GenerateMasterKey().Encode())
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "master key does not open the keyset") {
		t.Fatalf("wrong master key: %v %s", err, out)
	}
	cmd = exec.Command(binary, "serve", "--data-dir", dir, "--addr", freePort(t))
	cmd.Env = append(os.Environ(), "GRANTD_MASTER_KEY=not-a-key")
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "32 random bytes") {
		t.Fatalf("malformed master key: %v %s", err, out)
	}
}

func TestUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"version"}, 0, "grantd"},
		{[]string{"keys", "generate"}, 0, "="},
		{[]string{}, 2, "Usage"},
		{[]string{"nope"}, 2, "unknown command"},
		{[]string{"serve", "--addr", "nonsense"}, 2, "--addr"},
		{[]string{"serve", "--public-url", "ftp://x"}, 2, "--public-url"},
	} {
		out, err := exec.Command(binary, tt.args...).CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code != tt.code || !strings.Contains(string(out), tt.want) {
			t.Errorf("grantd %v: exit %d %q; want %d containing %q", tt.args, code, out, tt.code, tt.want)
		}
	}
}
