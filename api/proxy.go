package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/grants"
)

// proxy forwards …/proxy/* to the datasource's URL with its token placed as
// configured, streaming both bodies. It uses fasthttp's client (Fiber's own
// stack) through grantd's dialer guard.
type proxy struct {
	s *Server

	mu      sync.Mutex                  // guards clients
	clients map[string]*fasthttp.Client // by CA PEM
}

func newProxy(s *Server) *proxy { return &proxy{s: s, clients: map[string]*fasthttp.Client{}} }

func (p *proxy) client(caPEM string) (*fasthttp.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[caPEM]; ok {
		return c, nil
	}
	tlsConf, err := grants.TLSConfig(caPEM)
	if err != nil {
		return nil, err
	}
	dialer := p.s.cfg.Dialer
	c := &fasthttp.Client{
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		StreamResponseBody:            true,
		TLSConfig:                     tlsConf,
		// No whole-response deadline: bodies stream for as long as they
		// flow. idleConn times out a read or write that makes no progress.
		MaxIdleConnDuration: 90 * time.Second,
		MaxConnsPerHost:     4096,
		// No silent retries: fasthttp would resend an idempotent request
		// up to five times after a timeout or a reset, multiplying the
		// upstream's load and the caller's wait. The proxy's one retry is
		// its own, after a 401 and a refresh.
		MaxIdemponentCallAttempts: 1,
		ReadBufferSize:            16 << 10,
		Dial: func(addr string) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := dialer.DialContext(ctx, "tcp", addr)
			if err != nil {
				return nil, err
			}
			return &idleConn{Conn: c, timeout: p.s.cfg.ProxyTimeout}, nil
		},
	}
	p.clients[caPEM] = c
	return c, nil
}

// hopByHop headers belong to one connection and are never forwarded
// (RFC 9110 §7.6.1).
var hopByHop = []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// dropRequest are the caller's headers that do not go upstream: its
// credentials for grantd and grantd's own headers.
var dropRequest = []string{"Authorization", "Cookie", "Host", "Content-Length", csrfHeader, "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded", "Expect"}

// dropResponse are upstream headers that do not come back: cookies would
// be set on grantd's origin, next to its session.
var dropResponse = []string{"Set-Cookie", "Set-Cookie2", "Content-Length"}

func (p *proxy) handle(c *fiber.Ctx) error {
	s := p.s
	ctx := c.UserContext()
	id := c.Params("id")
	d, err := s.cfg.Engine.Datasource(ctx, id)
	if err != nil {
		return err
	}
	base, err := url.Parse(d.URL)
	if err != nil {
		return err
	}
	rest, ok := proxyRest(string(c.Request().URI().PathOriginal()))
	if !ok {
		return probBadPath.with(errPathEscape.Error())
	}
	path, err := joinProxyPath(base.EscapedPath(), rest)
	if err != nil {
		return probBadPath.with(err.Error())
	}
	query := string(c.Request().URI().QueryString())

	// The body: small ones are buffered so the request can be replayed
	// after a 401; large ones stream through and are not retried.
	var body []byte
	var bodyStream io.Reader
	replayable := true
	reqCL := c.Request().Header.ContentLength()
	if reqCL > 0 && int64(reqCL) > s.cfg.ProxyBodyLimit {
		return probTooLarge.with("the request body is over the proxy limit")
	}
	if stream := c.Context().RequestBodyStream(); stream != nil {
		buf := make([]byte, 0, min(max(reqCL, 0), s.cfg.ProxyReplayLimit)+1)
		b := bytes.NewBuffer(buf)
		n, err := io.Copy(b, io.LimitReader(stream, int64(s.cfg.ProxyReplayLimit)+1))
		if err != nil {
			return probUpstream.with("reading the request body failed")
		}
		if n > int64(s.cfg.ProxyReplayLimit) {
			replayable = false
			bodyStream = &limitedReader{r: io.MultiReader(b, stream), left: s.cfg.ProxyBodyLimit}
		} else {
			body = b.Bytes()
		}
	} else {
		body = c.Body()
	}

	tok, err := s.cfg.Engine.Token(ctx, id)
	if err != nil {
		return err
	}
	hc, err := p.client(d.Auth.TLSCACert)
	if err != nil {
		return err
	}

	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	build := func(t grants.AccessToken) {
		req.Reset()
		req.Header.DisableNormalizing()
		req.URI().DisablePathNormalizing = true
		q := query
		where, name, value := t.Placement()
		if where == datasource.PlacementQuery {
			q = grants.SetQueryParam(q, name, value)
		}
		uri := base.Scheme + "://" + base.Host + path
		if q != "" {
			uri += "?" + q
		}
		req.SetRequestURI(uri)
		req.Header.SetMethodBytes(c.Request().Header.Method())
		copyRequestHeaders(&req.Header, &c.Request().Header)
		req.Header.SetHost(base.Host)
		req.Header.Set(fiber.HeaderXRequestID, requestID(c))
		if where == datasource.PlacementHeader {
			req.Header.Del(name)
			req.Header.Set(name, value)
		}
		if bodyStream != nil {
			req.SetBodyStream(bodyStream, -1)
		} else if len(body) > 0 {
			req.SetBodyRaw(body)
		}
	}

	build(tok)
	resp := fasthttp.AcquireResponse()
	err = hc.Do(req, resp)
	if err == nil && resp.StatusCode() == fiber.StatusUnauthorized && replayable {
		// The upstream refused the token: refresh once (shared with every
		// other caller that saw this token) and replay once.
		if newTok, terr := s.cfg.Engine.TokenAfter(ctx, id, tok.Generation); terr == nil {
			resp.CloseBodyStream()
			resp.Reset()
			build(newTok)
			err = hc.Do(req, resp)
		}
	}
	if err != nil {
		fasthttp.ReleaseResponse(resp)
		return upstreamProblem(err)
	}
	c.Status(resp.StatusCode())
	copyResponseHeaders(&c.Response().Header, &resp.Header)
	if stream := resp.BodyStream(); stream != nil {
		size := resp.Header.ContentLength()
		if size < 0 || int64(size) > s.cfg.ProxyResponseLimit {
			size = -1
		}
		c.Response().SetBodyStream(&releasingReader{limitedReader: limitedReader{r: stream, left: s.cfg.ProxyResponseLimit}, resp: resp}, size)
		return nil
	}
	c.Response().SetBodyRaw(bytes.Clone(resp.Body()))
	fasthttp.ReleaseResponse(resp)
	return nil
}

// proxyRest returns what follows /api/v1/datasources/{id}/proxy in the raw
// path.
func proxyRest(raw string) (string, bool) {
	const prefix = "/api/v1/datasources/"
	if !strings.HasPrefix(raw, prefix) {
		return "", false
	}
	after := raw[len(prefix):]
	i := strings.IndexByte(after, '/')
	if i < 0 || !strings.HasPrefix(after[i:], "/proxy") {
		return "", false
	}
	rest := after[i+len("/proxy"):]
	if rest != "" && rest[0] != '/' {
		return "", false
	}
	return rest, true
}

func copyRequestHeaders(dst, src *fasthttp.RequestHeader) {
	conn := connectionTokens(src.Peek("Connection"))
	for k, v := range src.All() {
		name := string(k)
		if dropped(name, hopByHop) || dropped(name, dropRequest) || dropped(name, conn) {
			continue
		}
		dst.AddBytesKV(k, v)
	}
}

func copyResponseHeaders(dst, src *fasthttp.ResponseHeader) {
	conn := connectionTokens(src.Peek("Connection"))
	for k, v := range src.All() {
		name := string(k)
		if dropped(name, hopByHop) || dropped(name, dropResponse) || dropped(name, conn) {
			continue
		}
		dst.AddBytesKV(k, v)
	}
}

func connectionTokens(v []byte) []string {
	var out []string
	for _, t := range strings.Split(string(v), ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

func dropped(name string, list []string) bool {
	for _, l := range list {
		if strings.EqualFold(name, l) {
			return true
		}
	}
	return false
}

// upstreamProblem maps a failed upstream call: timeouts 504, refused
// addresses and unreachable hosts 502.
func upstreamProblem(err error) *Problem {
	var ne net.Error
	switch {
	case errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, fasthttp.ErrDialTimeout) || errors.As(err, &ne) && ne.Timeout():
		return probUpstreamTime.with("the upstream did not answer in time")
	case errors.Is(err, grants.ErrForbiddenAddress):
		return probUpstream.with("the upstream resolves to a private or loopback address, which is not allowed")
	case errors.Is(err, errBodyLimit):
		return probTooLarge.with("the request body is over the proxy limit")
	}
	return probUpstream.with("the upstream could not be reached or closed the connection")
}

var errBodyLimit = errors.New("body over the limit")

// idleConn fails a read or write that makes no progress for timeout: the
// upstream timeout of the proxy, which bounds waiting for an answer
// without cutting off a long download that keeps flowing.
//
// Moving a deadline costs a runtime timer update, so it is moved only when
// less than half the timeout is left: a stalled connection fails after
// between timeout/2 and timeout. fasthttp never reads (or writes) one
// connection from two goroutines at once, so rdl and wdl need no lock.
type idleConn struct {
	net.Conn
	timeout  time.Duration
	rdl, wdl time.Time // deadlines last set
}

func (c *idleConn) Read(b []byte) (int, error) {
	if now := time.Now(); c.rdl.Sub(now) < c.timeout/2 {
		c.rdl = now.Add(c.timeout)
		c.Conn.SetReadDeadline(c.rdl)
	}
	return c.Conn.Read(b)
}

func (c *idleConn) Write(b []byte) (int, error) {
	if now := time.Now(); c.wdl.Sub(now) < c.timeout/2 {
		c.wdl = now.Add(c.timeout)
		c.Conn.SetWriteDeadline(c.wdl)
	}
	return c.Conn.Write(b)
}

// limitedReader fails with errBodyLimit after left bytes.
type limitedReader struct {
	r    io.Reader
	left int64
}

func (l *limitedReader) Read(b []byte) (int, error) {
	if l.left <= 0 {
		// One more byte tells "exactly at the limit" from "over it".
		var one [1]byte
		if n, _ := l.r.Read(one[:]); n > 0 {
			return 0, errBodyLimit
		}
		return 0, io.EOF
	}
	if int64(len(b)) > l.left {
		b = b[:l.left]
	}
	n, err := l.r.Read(b)
	l.left -= int64(n)
	return n, err
}

// releasingReader streams an upstream body to the client and releases the
// upstream response when fasthttp closes it after writing.
type releasingReader struct {
	limitedReader
	resp *fasthttp.Response
	once sync.Once
}

func (r *releasingReader) Close() error {
	r.once.Do(func() {
		r.resp.CloseBodyStream()
		fasthttp.ReleaseResponse(r.resp)
	})
	return nil
}
