package main

import (
	"net"
	"net/url"

	"github.com/valyala/fasthttp"
)

// forwarderToken is the fixed token the bare forwarder sends. The upstream
// accepts any.
const forwarderToken = "bench-forwarder-token"

// serveForwarder is the floor for grantd's proxy: a fasthttp server that
// forwards every request to upstream on a fasthttp client and only
// replaces the Authorization header. No routing, no admin token check, no
// datasource lookup, no token cache, no header filtering, no streaming:
// what is left is the cost of the extra hop itself, on the same library
// grantd's proxy is built on. Its client is tuned as grantd's is (pooled
// connections, no silent retries), so the two differ only in what grantd
// adds.
func serveForwarder(ln net.Listener, upstream string) error {
	u, err := url.Parse(upstream)
	if err != nil {
		return err
	}
	hc := &fasthttp.HostClient{
		Addr:                          u.Host,
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		MaxConns:                      4096,
		MaxIdemponentCallAttempts:     1,
	}
	auth := "Bearer " + forwarderToken
	h := func(ctx *fasthttp.RequestCtx) {
		req := &ctx.Request
		req.Header.Del("Connection")
		req.Header.SetHost(u.Host)
		req.Header.Set("Authorization", auth) // replaces the caller's
		if err := hc.Do(req, &ctx.Response); err != nil {
			ctx.Error("bad gateway", fasthttp.StatusBadGateway)
			return
		}
		ctx.Response.Header.Del("Connection")
	}
	return (&fasthttp.Server{Handler: h, NoDefaultServerHeader: true, Concurrency: 1 << 16}).Serve(ln)
}
