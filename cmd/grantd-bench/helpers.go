package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// serveHelper runs one of the helper servers in this process until ctx
// ends: the upstream API, the baseline proxy or the bare forwarder.
func serveHelper(ctx context.Context, name string, args []string) error {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	upstream := fs.String("upstream", "", "baseline, forwarder: upstream base URL")
	tokenURL := fs.String("token-url", "", "baseline: token URL")
	delay := fs.Duration("delay", 0, "upstream: time each answer takes (a stand-in for real work or I/O)")
	fs.Parse(args)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String()) // the parent reads the address
	go func() { <-ctx.Done(); ln.Close() }()
	switch name {
	case "serve-upstream":
		h := upstreamHandler
		if d := *delay; d > 0 {
			h = func(ctx *fasthttp.RequestCtx) {
				time.Sleep(d)
				upstreamHandler(ctx)
			}
		}
		return (&fasthttp.Server{Handler: h, NoDefaultServerHeader: true, Concurrency: 1 << 16}).Serve(ln)
	case "serve-baseline":
		return serveBaseline(ctx, ln, *upstream, *tokenURL)
	case "serve-forwarder":
		return serveForwarder(ln, *upstream)
	}
	return fmt.Errorf("unknown helper %s", name)
}

var upstreamBody = []byte(`{"id":42,"name":"bench","items":[1,2,3],"ok":true,"note":"a small JSON answer"}`)

// upstreamHandler is the API behind the proxies: it answers a small JSON
// body, and 401 when no token came along, so a proxy that forgets to
// place it shows.
func upstreamHandler(ctx *fasthttp.RequestCtx) {
	if len(ctx.Request.Header.Peek("Authorization")) == 0 && len(ctx.QueryArgs().Peek("access_token")) == 0 {
		ctx.SetStatusCode(401)
		return
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(upstreamBody)
}

// serveBaseline is what a Go developer would write instead of grantd:
// net/http, httputil.ReverseProxy and x/oauth2's clientcredentials
// TokenSource (which caches the token) on an oauth2.Transport. The only
// tuning is MaxIdleConnsPerHost, without which net/http would reopen
// connections under load and the comparison would be unfair to it.
func serveBaseline(ctx context.Context, ln net.Listener, upstream, tokenURL string) error {
	target, err := url.Parse(upstream)
	if err != nil {
		return err
	}
	cc := clientcredentials.Config{ClientID: "bench", ClientSecret: "bench-secret", TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInHeader}
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.MaxIdleConnsPerHost = 256
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Header.Del("Authorization") // the caller's credentials stay here
			r.Out.Header.Del("Cookie")
		},
		Transport: &oauth2.Transport{Source: cc.TokenSource(context.Background()), Base: base},
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	go func() { <-ctx.Done(); srv.Close() }()
	return srv.Serve(ln)
}

// tokenEndpoint is a fast local token endpoint: every request gets a new
// random opaque token. It counts what it answers.
type tokenEndpoint struct {
	ln        net.Listener
	srv       *fasthttp.Server
	count     atomic.Int64
	expiresIn atomic.Int64
	fail      atomic.Bool
}

func startTokenEndpoint(expiresIn int64) (*tokenEndpoint, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	te := &tokenEndpoint{ln: ln}
	te.expiresIn.Store(expiresIn)
	te.srv = &fasthttp.Server{NoDefaultServerHeader: true, Concurrency: 1 << 16, Handler: func(ctx *fasthttp.RequestCtx) {
		te.count.Add(1)
		if te.fail.Load() {
			ctx.SetStatusCode(503)
			return
		}
		b := make([]byte, 24)
		rand.Read(b)
		ctx.SetContentType("application/json")
		fmt.Fprintf(ctx, `{"access_token":"%s","token_type":"Bearer","expires_in":%d}`, hex.EncodeToString(b), te.expiresIn.Load())
	}}
	go te.srv.Serve(ln)
	return te, nil
}

func (te *tokenEndpoint) URL() string { return "http://" + te.ln.Addr().String() + "/oauth2/token" }
func (te *tokenEndpoint) Close()      { te.srv.Shutdown() }

// helper is a helper server in a subprocess of this binary.
type helper struct {
	cmd  *exec.Cmd
	addr string
}

func startHelper(ctx context.Context, name string, args ...string) (*helper, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self, append([]string{name}, args...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	buf := make([]byte, 64)
	n, err := out.Read(buf)
	if err != nil {
		cmd.Process.Kill()
		return nil, fmt.Errorf("%s did not start: %w", name, err)
	}
	return &helper{cmd: cmd, addr: strings.TrimSpace(string(buf[:n]))}, nil
}

func (h *helper) URL() string { return "http://" + h.addr }

func (h *helper) Close() {
	h.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { h.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		h.cmd.Process.Kill()
	}
}

// benchPrivateKey is a fresh EC key (PEM) for the per-user JWT-bearer
// datasource; the bench token endpoint takes any assertion.
func benchPrivateKey() string {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}
