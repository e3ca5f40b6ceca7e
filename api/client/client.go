// Package client is a Go client of grantd's HTTP API (the /api/v1 routes
// openapi.json describes, and /healthz). Answers decode into package
// api's own types, the ones the server encodes from.
//
// # Authentication
//
// Every request carries the token New was given as a bearer token (RFC
// 6750): the admin token, or an API key (gk_…), which is a bearer token
// too. A client with an API key works wherever one with the admin token
// does, within the key's permissions and datasources: a key limited to
// some datasources lists and finds only those, and anything else it lacks
// is a 403 Problem whose Permission or Datasource names what is missing.
//
// # API keys
//
// CreateAPIKey makes a key (its Key is shown once), APIKeys lists them
// (never the keys themselves), RevokeAPIKey revokes one. These need the
// admin token or a key with the admin permission.
//
// # Per-user datasources
//
// A per-user datasource holds one connection per end user of the app
// backend. CreateConnectSession makes the link an end user opens to
// connect; TokenFor names the end user (the Grantd-End-User header);
// Connections, AllConnections, Connection, RefreshConnection,
// RevokeConnection, CheckConnection and DeleteConnection manage the
// connections. A 424 Problem for an end user without a usable connection
// carries a fresh link in ConnectURL.
//
// # Errors
//
// An error answer comes back as an *api.Problem (RFC 9457), with Status
// set to the HTTP status even when the body was not problem+json: map it
// with errors.As. A request that does not reach grantd fails with the
// *url.Error of net/http. A successful answer that is not JSON is
// ErrNotJSON; a Find that matches nothing is ErrNotFound; RevokeAPIKey
// given something like a key that is not one is ErrKeyNotID.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/grantd/grantd/api"
	"github.com/grantd/grantd/datasource"
)

// Sentinel errors; see "Errors" in the package documentation.
var (
	// ErrNotFound is returned by Find when no datasource has the id or
	// name it was given.
	ErrNotFound = errors.New("client: no such datasource")
	// ErrNotJSON is returned when grantd answered a success whose body
	// does not decode.
	ErrNotJSON = errors.New("client: grantd answered something that is not JSON")
)

// maxAnswer bounds how much of an answer is read.
const maxAnswer = 64 << 20

// Client calls one grantd. It is safe for concurrent use.
type Client struct {
	base  string // without a trailing slash
	token string
	http  *http.Client
}

// Option configures New.
type Option func(*Client)

// WithHTTPClient sends the requests with h instead of an http.Client whose
// Timeout is one minute.
func WithHTTPClient(h *http.Client) Option {
	return func(c *Client) { c.http = h }
}

// New returns a client of the grantd at baseURL (its root, such as
// http://127.0.0.1:8080) that authenticates with token. An empty token
// sends no Authorization header, which only Healthz does without.
func New(baseURL, token string, opts ...Option) *Client {
	c := &Client{base: strings.TrimRight(baseURL, "/"), token: token, http: &http.Client{Timeout: time.Minute}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// List returns every datasource, sorted by name.
func (c *Client) List(ctx context.Context) ([]api.DatasourceView, error) {
	var out api.DatasourceList
	err := c.do(ctx, http.MethodGet, "/api/v1/datasources", nil, &out)
	return out.Datasources, err
}

// Get returns the datasource with the id; a 404 Problem when there is none.
func (c *Client) Get(ctx context.Context, id string) (*api.DatasourceView, error) {
	var v api.DatasourceView
	if err := c.do(ctx, http.MethodGet, dsPath(id), nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Find returns the datasource with the id (ds_…) or, failing that, the
// name, compared as grantd does: names are unique regardless of case
// (datasource.NameKey). It returns an error that wraps ErrNotFound when
// neither matches.
func (c *Client) Find(ctx context.Context, idOrName string) (*api.DatasourceView, error) {
	if strings.HasPrefix(idOrName, "ds_") { // datasource.NewID's form
		d, err := c.Get(ctx, idOrName)
		var p *api.Problem
		if err == nil || !errors.As(err, &p) || p.Status != http.StatusNotFound {
			return d, err
		}
	}
	list, err := c.List(ctx)
	if err != nil {
		return nil, err
	}
	key := datasource.NameKey(idOrName)
	for i := range list {
		if datasource.NameKey(list[i].Name) == key {
			return &list[i], nil
		}
	}
	return nil, fmt.Errorf("%w: no datasource named %q", ErrNotFound, idOrName)
}

// Create creates a datasource from body and returns it as stored. body is
// sent as JSON unchanged: a document decoded from a user's file keeps the
// fields grantd does not know, so that grantd refuses them by name. (A
// *datasource.Datasource will not do: its client secret marshals as
// "[redacted]".) A refused body is a 400 Problem naming every bad field;
// a name in use, a 409.
func (c *Client) Create(ctx context.Context, body any) (*api.DatasourceView, error) {
	var v api.DatasourceView
	if err := c.do(ctx, http.MethodPost, "/api/v1/datasources", body, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Replace replaces the datasource with the id by body (see Create), and
// returns it as stored. An absent or empty clientSecret keeps the stored
// one, null removes it. UpdatedAt changes only when something did.
func (c *Client) Replace(ctx context.Context, id string, body any) (*api.DatasourceView, error) {
	var v api.DatasourceView
	if err := c.do(ctx, http.MethodPut, dsPath(id), body, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Delete deletes the datasource with the id; grantd revokes its tokens at
// the provider where it can, and erases them.
func (c *Client) Delete(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, dsPath(id), nil, nil)
}

// Token returns a current access token of the datasource with the id,
// refreshed first when due. Only datasources that set exposeToken hand
// one out; others answer a 403 Problem, and one without a usable token a
// 424. A per-user datasource wants TokenFor.
func (c *Client) Token(ctx context.Context, id string) (*api.TokenAnswer, error) {
	return c.TokenFor(ctx, id, "")
}

// TokenFor is Token for one end user of a per-user datasource: the token
// of the connection of endUserID, sent as the Grantd-End-User header
// (none when it is empty; a shared datasource ignores it). Without one, a
// per-user datasource answers a 400 Problem; for an end user with no
// usable connection, the 424 Problem's ConnectURL is a fresh connect
// link to send that person to.
func (c *Client) TokenFor(ctx context.Context, id, endUserID string) (*api.TokenAnswer, error) {
	var hdr http.Header
	if endUserID != "" {
		hdr = http.Header{EndUserHeader: {endUserID}}
	}
	var t api.TokenAnswer
	if err := c.doWith(ctx, http.MethodPost, dsPath(id)+"/token", hdr, nil, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// Authorize starts an authorization-code flow for the datasource with the
// id and returns the provider URL a person opens in a browser. returnTo,
// when not empty, is the relative path grantd sends the person to
// afterwards. The URL's state is good once, for 10 minutes.
func (c *Client) Authorize(ctx context.Context, id, returnTo string) (string, error) {
	var a api.AuthorizeAnswer
	err := c.do(ctx, http.MethodPost, dsPath(id)+"/authorize", api.AuthorizeRequest{ReturnTo: returnTo}, &a)
	return a.AuthorizeURL, err
}

// Status returns the authorization status of the datasource with the id.
func (c *Client) Status(ctx context.Context, id string) (datasource.Authorization, error) {
	var a datasource.Authorization
	err := c.do(ctx, http.MethodGet, dsPath(id)+"/status", nil, &a)
	return a, err
}

// ServerInfo returns grantd's version, public URL and redirect URI.
func (c *Client) ServerInfo(ctx context.Context) (*api.ServerInfo, error) {
	var s api.ServerInfo
	if err := c.do(ctx, http.MethodGet, "/api/v1/config", nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Healthz reports whether grantd answers, and its version. It needs no
// token.
func (c *Client) Healthz(ctx context.Context) (*api.Health, error) {
	var h api.Health
	if err := c.do(ctx, http.MethodGet, "/healthz", nil, &h); err != nil {
		return nil, err
	}
	return &h, nil
}

func dsPath(id string) string { return "/api/v1/datasources/" + url.PathEscape(id) }

// do sends a request with body as JSON (unless nil) and decodes a
// successful answer into out (unless nil). An error answer becomes an
// *api.Problem.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	return c.doWith(ctx, method, path, nil, body, out)
}

// doWith is do with extra request headers (hdr may be nil).
func (c *Client) doWith(ctx context.Context, method, path string, hdr http.Header, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("client: encoding the request: %w", err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err // a *url.Error
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("client: reading grantd's answer: %w", err)
	}
	if resp.StatusCode >= 400 {
		return problem(resp, b)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%w: %v", ErrNotJSON, err)
		}
	}
	return nil
}

// problem decodes an error answer. One that is not problem+json (from a
// proxy in front of grantd, say) gets the status line as its title.
func problem(resp *http.Response, b []byte) *api.Problem {
	p := &api.Problem{}
	if json.Unmarshal(b, p) != nil {
		*p = api.Problem{}
	}
	if p.Title == "" {
		p.Title = resp.Status
	}
	p.Status = resp.StatusCode
	return p
}
