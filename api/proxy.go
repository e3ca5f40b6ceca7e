package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/grantd/grantd/outbound"
	"github.com/valyala/fasthttp"
)

// proxy forwards …/proxy/* to the datasource's URL with its token placed as
// configured, streaming both bodies. It uses fasthttp's client (Fiber's own
// stack) through grantd's dialer guard.
type proxy struct {
	s *Server

	mu      sync.Mutex                  // guards clients
	clients map[clientKey]*proxyClients // by CA and scheme
}

// clientKey names a pool of upstream connections.
type clientKey struct {
	caPEM string
	tls   bool
	// For a datasource with an upstream client certificate: its id and a
	// digest of the pair (see clientFor); zero for shared pools.
	datasource string
	material   [32]byte
}

// proxyClients are the clients of one pool: pooled sends every request
// but the retry on a new connection, which fresh sends.
type proxyClients struct {
	pooled, fresh *fasthttp.Client
}

func newProxy(s *Server) *proxy {
	return &proxy{s: s, clients: map[clientKey]*proxyClients{}}
}

// client returns the clients for upstreams at scheme trusting caPEM.
//
// TLS is done here rather than by fasthttp, below the connection that
// counts bytes (upstreamConn): handshakes, session tickets and a
// close_notify are then not mistaken for parts of an answer.
func (p *proxy) client(caPEM string, tlsOn bool) (*proxyClients, error) {
	key := clientKey{caPEM: caPEM, tls: tlsOn}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[key]; ok {
		return c, nil
	}
	tlsConf, err := outbound.TLSConfig(caPEM)
	if err != nil {
		return nil, err
	}
	c := p.newClients(tlsConf, tlsOn)
	p.clients[key] = c
	return c, nil
}

// newClients makes the clients of one pool, with TLS by tlsConf when
// tlsOn.
func (p *proxy) newClients(tlsConf *tls.Config, tlsOn bool) *proxyClients {
	dialer, timeout := p.s.cfg.Dialer, p.s.cfg.ProxyTimeout
	dial := func(addr string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := dialer.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		if tlsOn {
			conf := tlsConf.Clone()
			conf.ServerName, _, _ = net.SplitHostPort(addr)
			tc := tls.Client(c, conf)
			if err := tc.HandshakeContext(ctx); err != nil {
				c.Close()
				return nil, err
			}
			c = tc
		}
		return newUpstreamConn(c, timeout), nil
	}
	newClient := func() *fasthttp.Client {
		return &fasthttp.Client{
			NoDefaultUserAgentHeader:      true,
			DisableHeaderNamesNormalizing: true,
			DisablePathNormalizing:        true,
			StreamResponseBody:            true,
			TLSConfig:                     tlsConf,
			// No whole-response deadline: bodies stream for as long as
			// they flow. upstreamConn times out a read or write that makes
			// no progress.
			MaxIdleConnDuration: 90 * time.Second,
			MaxConnsPerHost:     4096,
			// No silent retries: fasthttp would resend an idempotent
			// request up to five times after a timeout or a reset,
			// multiplying the upstream's load and the caller's wait. The
			// proxy's retries are its own: after a 401 and a refresh, and
			// after a kept-alive connection the upstream had closed (send).
			MaxIdemponentCallAttempts: 1,
			ReadBufferSize:            16 << 10,
			Dial:                      dial,
		}
	}
	return &proxyClients{pooled: newClient(), fresh: newClient()}
}

// send makes the upstream request, and once more on a new connection when
// a reused keep-alive connection turned out to be closed by the upstream
// before it sent a byte of its answer (Node closes idle connections after
// 5 s, load balancers after a minute; the pool keeps them 90 s). That is
// the retry net/http makes: the request is resent only when the upstream
// cannot have acted on it — nothing of it was written, or it is idempotent
// (RFC 9110 §9.2.2) or carries an Idempotency-Key — and only when its body
// is buffered. Every other failure is answered, never retried.
func (p *proxy) send(hc *proxyClients, req *fasthttp.Request, resp *fasthttp.Response, replayable bool) error {
	err := hc.pooled.Do(req, resp)
	if err == nil || !replayable {
		return err
	}
	uc := connOf(resp)
	if uc == nil || !uc.staleReuse() || !(uc.nothingWritten() || idempotent(req)) {
		return err
	}
	p.s.log.Info("upstream closed a kept-alive connection; retrying once on a new one", "host", string(req.Host()), "err", err)
	resp.Reset()
	// Connection: close keeps the fresh client's pool empty, so this
	// request dials a new connection.
	req.SetConnectionClose()
	return hc.fresh.Do(req, resp)
}

// idempotent reports whether resending req is harmless: RFC 9110 §9.2.2
// methods, or an Idempotency-Key the upstream deduplicates on.
func idempotent(req *fasthttp.Request) bool {
	switch string(req.Header.Method()) {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return len(req.Header.Peek("Idempotency-Key")) > 0 || len(req.Header.Peek("X-Idempotency-Key")) > 0
}

// dropResponse are upstream headers that do not come back: cookies would
// be set on grantd's origin, next to its session; the upstream's own
// content policy and sniffing opt-out are replaced by grantd's (sandboxed);
// and every Access-Control-* header (dropped by prefix, see
// copyResponseHeaders) would let other origins read grantd's answers.
var dropResponse = []string{"Set-Cookie", "Set-Cookie2", "Content-Length", "Content-Security-Policy", "X-Content-Type-Options"}

// sandboxed marks an answer of the proxy as foreign content: a browser
// that renders it anyway (an HTML page, an SVG) runs no script and gives
// it an opaque origin, so it cannot act with the session of grantd's UI,
// and does not guess a more dangerous type than the one declared.
func sandboxed(c *fiber.Ctx) {
	c.Set("Content-Security-Policy", "sandbox")
	c.Set("X-Content-Type-Options", "nosniff")
}

func (p *proxy) handle(c *fiber.Ctx) error {
	s := p.s
	sandboxed(c) // before anything can fail: problems are answers too
	ctx := c.UserContext()
	id := c.Params("id")
	t, err := s.cfg.Engine.Resolve(ctx, keyOf(c, id))
	if err != nil {
		return err
	}
	c.Locals(localTarget, t.Key())
	t = withSubjectToken(c, t)
	raw, err := t.URL(ctx) // a template filled for this connection and token
	if err != nil {
		return err
	}
	base, err := url.Parse(raw)
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

	hc, err := p.clientFor(ctx, t, base.Scheme == "https")
	if err != nil {
		return err
	}
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	req.Header.DisableNormalizing()
	req.URI().DisablePathNormalizing = true
	uri := base.Scheme + "://" + base.Host + path
	if query != "" {
		uri += "?" + query
	}
	req.SetRequestURI(uri)
	req.Header.SetMethodBytes(c.Request().Header.Method())
	copyRequestHeaders(&req.Header, &c.Request().Header)
	req.Header.SetHost(base.Host)
	req.Header.Set(fiber.HeaderXRequestID, requestID(c))
	if bodyStream != nil {
		// The caller's Content-Length goes on: S3's PutObject, and many
		// APIs, refuse a chunked body (411). Without one it is chunked.
		size := -1
		if reqCL > 0 {
			size = reqCL
		}
		req.SetBodyStream(bodyStream, size)
	} else if len(body) > 0 {
		req.SetBodyRaw(body)
	}

	// The engine places the token and, after an upstream 401, refreshes
	// once (shared with every caller that saw the same token) and has the
	// request sent again.
	resp := fasthttp.AcquireResponse()
	sent := false
	err = t.Send(ctx, fastRequest{req}, replayable, func() (int, error) {
		if sent {
			resp.CloseBodyStream()
			resp.Reset()
		}
		sent = true
		if err := p.send(hc, req, resp, replayable); err != nil {
			return 0, err
		}
		return resp.StatusCode(), nil
	})
	if err != nil {
		fasthttp.ReleaseResponse(resp)
		if !sent {
			return s.notConnected(c, t.Key(), err) // no token: the engine's problem (424, 502, 503)
		}
		prob := upstreamProblem(err)
		s.log.Warn("upstream call failed", "requestId", requestID(c), "datasource", id, "host", base.Host,
			"status", prob.Status, "cause", scrubQuery(err, req))
		return prob
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
		// The caller's credentials, hop-by-hop and grantd's own headers
		// (the CSRF header among them): outbound's one list, shared with MCP.
		if outbound.DropRequestHeader(name) || dropped(name, conn) {
			continue
		}
		dst.AddBytesKV(k, v)
	}
}

func copyResponseHeaders(dst, src *fasthttp.ResponseHeader) {
	conn := connectionTokens(src.Peek("Connection"))
	for k, v := range src.All() {
		name := string(k)
		if outbound.HopByHop(name) || dropped(name, dropResponse) || dropped(name, conn) || corsHeader(name) {
			continue
		}
		dst.AddBytesKV(k, v)
	}
}

// corsHeader reports whether name is a CORS response header: an upstream
// that allows other origins allows them to read grantd's answer, made with
// the datasource's token.
func corsHeader(name string) bool {
	const prefix = "Access-Control-"
	return len(name) >= len(prefix) && strings.EqualFold(name[:len(prefix)], prefix)
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
	case errors.Is(err, outbound.ErrForbiddenAddress):
		msg := "the upstream resolves to a private or loopback address, which is not allowed"
		if re := (*outbound.RefusedError)(nil); errors.As(err, &re) && re.Hint != "" {
			msg += " (" + re.Hint + ")"
		}
		return probUpstream.with(msg)
	case errors.Is(err, errBodyLimit):
		return probTooLarge.with("the request body is over the proxy limit")
	}
	return probUpstream.with("the upstream could not be reached or closed the connection")
}

var errBodyLimit = errors.New("body over the limit")

// scrubQuery is err's text for a log line without req's query: a query
// placement puts the token there, and some errors quote the URL.
func scrubQuery(err error, req *fasthttp.Request) string {
	msg := err.Error()
	if q := string(req.URI().QueryString()); q != "" {
		msg = strings.ReplaceAll(msg, q, "[query]")
	}
	return msg
}

// fastRequest is a fasthttp request as a grants.Request. Header names are
// not normalised (the proxy passes them as the caller wrote them), so
// SetHeader removes every spelling of the name first: a caller cannot add
// a second value next to the token.
type fastRequest struct{ r *fasthttp.Request }

func (f fastRequest) SetHeader(name, value string) {
	var others [][]byte
	for k := range f.r.Header.All() {
		if string(k) != name && strings.EqualFold(string(k), name) {
			others = append(others, bytes.Clone(k))
		}
	}
	for _, k := range others {
		f.r.Header.DelBytes(k)
	}
	f.r.Header.Set(name, value)
}
func (f fastRequest) RawQuery() string     { return string(f.r.URI().QueryString()) }
func (f fastRequest) SetRawQuery(q string) { f.r.URI().SetQueryString(q) }

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
