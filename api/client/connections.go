package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/grantd/grantd/api"
	"github.com/grantd/grantd/datasource"
)

// EndUserHeader names the end user a call to a per-user datasource is
// for. Set it on requests to the proxy (TokenFor sets it on the token
// endpoint); grantd never forwards it upstream.
const EndUserHeader = "Grantd-End-User"

// ConnectionQuery selects a page of a per-user datasource's connections.
type ConnectionQuery struct {
	// Status keeps only connections in this status; empty keeps all.
	Status datasource.Status
	// Limit is the page size, 1–500; 0 is grantd's default (500).
	Limit int
	// Cursor is the NextCursor of the previous page; empty starts at the
	// first.
	Cursor string
}

// Connections returns one page of the connections of the per-user
// datasource with the id, in end user id order; its NextCursor is empty
// after the last page. A shared datasource answers a 400 Problem (type
// not-per-user), an unknown one a 404.
func (c *Client) Connections(ctx context.Context, id string, q ConnectionQuery) (*api.ConnectionList, error) {
	v := url.Values{}
	if q.Status != "" {
		v.Set("status", string(q.Status))
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Cursor != "" {
		v.Set("cursor", q.Cursor)
	}
	path := dsPath(id) + "/connections"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var l api.ConnectionList
	if err := c.do(ctx, http.MethodGet, path, nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// AllConnections walks every page of the connections of the per-user
// datasource with the id, with status (empty for all), and returns them in
// end user id order. Connections made or deleted while it walks may be
// missed or included; none is returned twice.
func (c *Client) AllConnections(ctx context.Context, id string, status datasource.Status) ([]api.ConnectionView, error) {
	out := []api.ConnectionView{}
	q := ConnectionQuery{Status: status}
	for {
		page, err := c.Connections(ctx, id, q)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Connections...)
		if page.NextCursor == "" || page.NextCursor == q.Cursor {
			return out, nil
		}
		q.Cursor = page.NextCursor
	}
}

// Connection returns the connection of endUserID to the per-user
// datasource with the id; a 404 Problem when there is none.
func (c *Client) Connection(ctx context.Context, id, endUserID string) (*api.ConnectionView, error) {
	var v api.ConnectionView
	if err := c.do(ctx, http.MethodGet, connPath(id, endUserID), nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// DeleteConnection deletes the connection of endUserID; grantd revokes
// its tokens at the provider where it can, and erases them.
func (c *Client) DeleteConnection(ctx context.Context, id, endUserID string) error {
	return c.do(ctx, http.MethodDelete, connPath(id, endUserID), nil, nil)
}

// RefreshConnection makes a token request for endUserID now, ignoring
// any backoff, and returns the connection afterwards: a refused request
// shows in its Authorization (status, lastError), not as an error.
func (c *Client) RefreshConnection(ctx context.Context, id, endUserID string) (*api.ConnectionView, error) {
	var v api.ConnectionView
	if err := c.do(ctx, http.MethodPost, connPath(id, endUserID)+"/refresh", nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// RevokeConnection revokes the tokens of endUserID at the provider (RFC
// 7009) when it can and erases them; the connection stays, unauthorized,
// until that person connects again.
func (c *Client) RevokeConnection(ctx context.Context, id, endUserID string) (*api.RevokeAnswer, error) {
	var a api.RevokeAnswer
	if err := c.do(ctx, http.MethodPost, connPath(id, endUserID)+"/revoke", nil, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// CheckConnection runs the datasource's health check for endUserID now
// and returns the connection with its new Health; a failing check is an
// outcome (Health.OK false), not an error.
func (c *Client) CheckConnection(ctx context.Context, id, endUserID string) (*api.ConnectionView, error) {
	var v api.ConnectionView
	if err := c.do(ctx, http.MethodPost, connPath(id, endUserID)+"/check", nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// CreateConnectSession makes a one-time connect link for one end user of
// a per-user datasource (r.Datasource is its id or name). Hand the
// answer's ConnectURL to that person's browser; it works once, until
// ExpiresAt. Invalid fields are a 400 Problem naming each; a shared
// datasource is a 400 too (not-per-user).
func (c *Client) CreateConnectSession(ctx context.Context, r api.ConnectSessionRequest) (*api.ConnectSessionAnswer, error) {
	var a api.ConnectSessionAnswer
	if err := c.do(ctx, http.MethodPost, "/api/v1/connect/sessions", r, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

func connPath(id, endUserID string) string {
	return dsPath(id) + "/connections/" + url.PathEscape(endUserID)
}
