package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Exit codes of the client commands.
const (
	exitOK          = 0
	exitError       = 1 // grantd unreachable, or an unexpected answer
	exitUsage       = 2
	exitNotFound    = 3 // no such datasource
	exitAuth        = 4 // the admin token was refused
	exitRejected    = 5 // invalid input or a name conflict
	exitNotUsable   = 6 // the datasource has no usable token, or does not expose it
	exitUnavailable = 7 // grantd cannot take writes right now
)

// exitError carries an exit code.
type exitErr struct {
	code int
	msg  string
}

func (e exitErr) Error() string { return e.msg }

// client talks to a running grantd over its API: GRANTD_URL (default
// http://127.0.0.1:8080) with the admin token GRANTD_ADMIN_TOKEN.
type client struct {
	base   string
	token  string
	http   *http.Client
	output string // table, json or yaml
}

// clientHelp ends the help of every command that talks to grantd.
const clientHelp = `
Talks to a running grantd at GRANTD_URL (default http://127.0.0.1:8080, or
--url) with the admin token in GRANTD_ADMIN_TOKEN.

Exit codes: 0 ok, 1 error or grantd unreachable, 2 usage, 3 not found,
4 admin token refused, 5 rejected input (invalid, duplicate), 6 datasource
not usable (not authorized, token not exposed), 7 grantd cannot take writes.
`

// clientFlags adds the common client flags to fs.
func clientFlags(fs *flag.FlagSet) *client {
	c := &client{http: &http.Client{Timeout: 60 * time.Second}}
	fs.StringVar(&c.base, "url", env("GRANTD_URL", "http://127.0.0.1:8080"), "grantd's `URL` (GRANTD_URL)")
	fs.StringVar(&c.output, "o", "table", "output `format`: table, json or yaml")
	return c
}

// ready checks the client flags. The admin token is checked by do, when
// grantd is first asked something, so that local mistakes (a missing
// file) are reported as such.
func (c *client) ready() error {
	c.token = os.Getenv("GRANTD_ADMIN_TOKEN")
	if u, err := url.Parse(c.base); err != nil || u.Host == "" {
		return exitErr{exitUsage, fmt.Sprintf("GRANTD_URL %q is not a URL", c.base)}
	}
	c.base = strings.TrimRight(c.base, "/")
	switch c.output {
	case "table", "json", "yaml":
	default:
		return exitErr{exitUsage, "-o wants table, json or yaml"}
	}
	return nil
}

// apiProblem is a problem+json answer.
type apiProblem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

func (p *apiProblem) exitCode() int {
	switch p.Status {
	case 401:
		return exitAuth
	case 404:
		return exitNotFound
	case 400, 409, 413:
		return exitRejected
	case 403, 424, 502, 504:
		return exitNotUsable
	case 503:
		return exitUnavailable
	}
	return exitError
}

func (p *apiProblem) Error() string {
	var b strings.Builder
	b.WriteString(p.Title)
	if p.Detail != "" {
		b.WriteString(": " + p.Detail)
	}
	for _, e := range p.Errors {
		fmt.Fprintf(&b, "\n  %s: %s", e.Field, e.Message)
	}
	return b.String()
}

// do sends a request and decodes a 2xx JSON answer into out (if not nil).
// A problem answer becomes an exitErr with the code it means.
func (c *client) do(ctx context.Context, method, path string, body, out any) error {
	if c.token == "" {
		return exitErr{exitUsage, "set GRANTD_ADMIN_TOKEN to the admin token"}
	}
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return exitErr{exitError, fmt.Sprintf("cannot reach grantd at %s: %v", c.base, errors.Unwrap(err))}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return exitErr{exitError, "reading grantd's answer: " + err.Error()}
	}
	if resp.StatusCode >= 400 {
		p := &apiProblem{Status: resp.StatusCode}
		if json.Unmarshal(b, p) != nil || p.Title == "" {
			p.Title = resp.Status
		}
		return exitErr{p.exitCode(), p.Error()}
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return exitErr{exitError, "grantd answered something that is not JSON"}
		}
	}
	return nil
}

// dsView is a datasource as the API returns it.
type dsView struct {
	ID            string         `json:"id" yaml:"id"`
	Name          string         `json:"name" yaml:"name"`
	URL           string         `json:"url" yaml:"url"`
	Auth          map[string]any `json:"auth" yaml:"auth"`
	CreatedAt     string         `json:"createdAt" yaml:"createdAt"`
	UpdatedAt     string         `json:"updatedAt" yaml:"updatedAt"`
	Authorization struct {
		Status          string  `json:"status" yaml:"status"`
		ExpiresAt       *string `json:"expiresAt" yaml:"expiresAt"`
		LastRefreshedAt *string `json:"lastRefreshedAt" yaml:"lastRefreshedAt"`
		LastError       string  `json:"lastError" yaml:"lastError"`
		HasRefreshToken bool    `json:"hasRefreshToken" yaml:"hasRefreshToken"`
		GrantedScope    string  `json:"grantedScope" yaml:"grantedScope"`
	} `json:"authorization" yaml:"authorization"`
}

func (c *client) list(ctx context.Context) ([]dsView, error) {
	var out struct {
		Datasources []dsView `json:"datasources"`
	}
	err := c.do(ctx, "GET", "/api/v1/datasources", nil, &out)
	return out.Datasources, err
}

// find resolves a datasource by id (ds_…) or name.
func (c *client) find(ctx context.Context, nameOrID string) (*dsView, error) {
	if strings.HasPrefix(nameOrID, "ds_") {
		var v dsView
		err := c.do(ctx, "GET", "/api/v1/datasources/"+url.PathEscape(nameOrID), nil, &v)
		var ee exitErr
		if err == nil || !errors.As(err, &ee) || ee.code != exitNotFound {
			return &v, err
		}
	}
	list, err := c.list(ctx)
	if err != nil {
		return nil, err
	}
	for i := range list {
		if list[i].Name == nameOrID {
			return &list[i], nil
		}
	}
	return nil, exitErr{exitNotFound, fmt.Sprintf("no datasource named %q", nameOrID)}
}
