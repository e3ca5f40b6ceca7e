package grants

import (
	"context"
	"io"
	"net/http"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/outbound"
)

// Apply places a fresh token of k on req, as the datasource configures
// (header with prefix, or query parameter). Errors are those of Token.
func (e *Engine) Apply(ctx context.Context, k datasource.Key, req *http.Request) error {
	t, err := e.Token(ctx, k)
	if err != nil {
		return err
	}
	t.Apply(req)
	return nil
}

// Client returns an *http.Client that authenticates every request as k —
// a shared datasource or an end user's connection (see Target.Send): a fresh token placed, and after an
// upstream 401 one refresh, shared with everyone else, and one retry of a
// replayable request. Outgoing connections go through the engine's dialer
// guard and trust the datasource's CA. The client is cheap; make one per
// use or keep it.
func (e *Engine) Client(ctx context.Context, k datasource.Key) (*http.Client, error) {
	t, err := e.Resolve(ctx, k)
	if err != nil {
		return nil, err
	}
	cert, err := t.UpstreamCertificate(ctx)
	if err != nil {
		return nil, err
	}
	base, err := outbound.NewTransport(outbound.TransportOptions{Dialer: e.opts.Dialer, CACert: t.Datasource().Auth.TLSCACert, ClientCertificate: cert})
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: &Transport{Engine: e, Key: k, Base: base}}, nil
}

// Transport is an http.RoundTripper that authenticates as one datasource
// or connection.
type Transport struct {
	Engine *Engine
	Key    datasource.Key
	// Base sends the requests; http.DefaultTransport when nil.
	Base http.RoundTripper
	// SubjectToken returns the caller's own token for req, which a
	// token_exchange datasource exchanges (see Target.WithSubjectToken);
	// nil, or "", sends none. Other grants ignore it.
	SubjectToken func(req *http.Request) string
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	ctx := req.Context()
	target, err := t.Engine.Resolve(ctx, t.Key)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	if t.SubjectToken != nil {
		if s := t.SubjectToken(req); s != "" {
			target = target.WithSubjectToken(s)
		}
	}
	r := req.Clone(ctx)
	var resp *http.Response
	sent := false
	err = target.Send(ctx, httpRequest{r}, replayable(req), func() (int, error) {
		sent = true
		if resp != nil {
			// The retry: let the refused answer go, rewind the body.
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			resp = nil
			if req.GetBody != nil {
				b, err := req.GetBody()
				if err != nil {
					return 0, err
				}
				r.Body = b
			}
		}
		var err error
		resp, err = base.RoundTrip(r)
		if err != nil {
			return 0, err
		}
		return resp.StatusCode, nil
	})
	if err != nil {
		if !sent { // a RoundTrip closes the body whatever happens
			closeBody(req)
		}
		return nil, err
	}
	return resp, nil
}

// replayable reports whether req can be sent again: it has no body, or
// one that GetBody can produce again.
func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
