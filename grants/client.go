package grants

import (
	"context"
	"io"
	"net/http"
)

// Apply places a fresh token of datasource id on req, as the datasource
// configures (header with prefix, or query parameter). Errors are those of
// Token.
func (e *Engine) Apply(ctx context.Context, id string, req *http.Request) error {
	t, err := e.Token(ctx, id)
	if err != nil {
		return err
	}
	t.Apply(req)
	return nil
}

// Client returns an *http.Client that authenticates every request as
// datasource id: it places a fresh token, and when the upstream answers
// 401 it gets a token of a newer generation (one refresh, shared with
// everyone else) and retries a replayable request once. Outgoing
// connections go through the engine's dialer guard and trust the
// datasource's CA. The client is cheap; make one per use or keep it.
func (e *Engine) Client(ctx context.Context, id string) (*http.Client, error) {
	d, err := e.store.Datasource(ctx, id)
	if err != nil {
		return nil, err
	}
	t, err := NewTransport(TransportOptions{Dialer: e.opts.Dialer, CACert: d.Auth.TLSCACert})
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: &Transport{Engine: e, ID: id, Base: t}}, nil
}

// Transport is an http.RoundTripper that authenticates as one datasource.
type Transport struct {
	Engine *Engine
	ID     string
	// Base sends the requests; http.DefaultTransport when nil.
	Base http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	ctx := req.Context()
	tok, err := t.Engine.Token(ctx, t.ID)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	r := req.Clone(ctx)
	tok.Apply(r)
	resp, err := base.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || !replayable(req) {
		return resp, err
	}
	newTok, err := t.Engine.TokenAfter(ctx, t.ID, tok.Generation)
	if err != nil {
		return resp, nil // the upstream's 401 is the better answer
	}
	r2, err := rewind(ctx, req)
	if err != nil {
		return resp, nil
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	newTok.Apply(r2)
	return base.RoundTrip(r2)
}

// replayable reports whether req can be sent again: it has no body, or
// one that GetBody can produce again.
func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

func rewind(ctx context.Context, req *http.Request) (*http.Request, error) {
	r := req.Clone(ctx)
	if req.GetBody != nil {
		b, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		r.Body = b
	}
	return r, nil
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
