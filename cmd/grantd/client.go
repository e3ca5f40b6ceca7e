package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/grantd/grantd/api"
	"github.com/grantd/grantd/api/client"
)

// Exit codes of the client commands.
const (
	exitOK          = 0
	exitError       = 1 // grantd unreachable, or an unexpected answer
	exitUsage       = 2
	exitNotFound    = 3 // no such datasource, connection or API key
	exitAuth        = 4 // the credentials were refused: admin token, or API key unknown or revoked
	exitRejected    = 5 // invalid input or a name conflict
	exitNotUsable   = 6 // the datasource has no usable token, or does not expose it
	exitUnavailable = 7 // grantd cannot take writes right now
	exitForbidden   = 8 // the API key lacks a permission or a datasource
)

// problemForbidden is the problem type of a 403 for an API key that lacks
// a permission or a datasource (not of one for a token not exposed).
const problemForbidden = "https://grantd.dev/problems/forbidden"

// exitError carries an exit code.
type exitErr struct {
	code int
	msg  string
}

func (e exitErr) Error() string { return e.msg }

// remote is where a client command finds grantd: GRANTD_URL (default
// http://127.0.0.1:8080), and how it prints what grantd answers.
type remote struct {
	base   string
	output string // table, json or yaml
	viaKey bool   // connect chose GRANTD_API_KEY
}

// clientHelp ends the help of every command that talks to grantd.
const clientHelp = `
Talks to a running grantd at GRANTD_URL (default http://127.0.0.1:8080, or
--url) with the API key in GRANTD_API_KEY or, when that is not set, the
admin token in GRANTD_ADMIN_TOKEN. An API key does what its permissions
allow, on the datasources it names: a limited key sees only those.

Exit codes: 0 ok, 1 error or grantd unreachable, 2 usage, 3 not found
(datasource, connection or API key), 4 credentials refused (admin token,
or API key unknown or revoked), 5 rejected input (invalid, duplicate, a
shared datasource asked for connections), 6 not usable (not authorized,
token not exposed, a failing check), 7 grantd cannot take writes,
8 forbidden (the API key lacks a permission or a datasource).
`

// clientFlags adds the common client flags to fs.
func clientFlags(fs *flag.FlagSet) *remote {
	r := &remote{}
	fs.StringVar(&r.base, "url", env("GRANTD_URL", "http://127.0.0.1:8080"), "grantd's `URL` (GRANTD_URL)")
	fs.StringVar(&r.output, "o", "table", "output `format`: table, json or yaml")
	return r
}

// ready checks the client flags. The admin token is checked by connect,
// just before grantd is first asked something, so that local mistakes (a
// missing file) are reported as such.
func (r *remote) ready() error {
	if u, err := url.Parse(r.base); err != nil || u.Host == "" {
		return exitErr{exitUsage, fmt.Sprintf("GRANTD_URL %q is not a URL", r.base)}
	}
	r.base = strings.TrimRight(r.base, "/")
	switch r.output {
	case "table", "json", "yaml":
	default:
		return exitErr{exitUsage, "-o wants table, json or yaml"}
	}
	return nil
}

// connect returns a client of grantd with the API key GRANTD_API_KEY or,
// when that is not set, the admin token GRANTD_ADMIN_TOKEN.
//
// The key wins when both are set: it is the narrower credential, and the
// one a user sets on purpose for a program, while GRANTD_ADMIN_TOKEN is
// often exported for grantd serve on the same machine. A command run with
// a key must not quietly do more than the key allows.
func (r *remote) connect() (*client.Client, error) {
	token := os.Getenv("GRANTD_API_KEY")
	r.viaKey = token != ""
	if token == "" {
		token = os.Getenv("GRANTD_ADMIN_TOKEN")
	}
	if token == "" {
		return nil, exitErr{exitUsage, "set GRANTD_API_KEY to an API key, or GRANTD_ADMIN_TOKEN to the admin token"}
	}
	return client.New(r.base, token, client.WithHTTPClient(&http.Client{Timeout: 60 * time.Second})), nil
}

// find resolves the NAME|ID argument of a command.
func (r *remote) find(ctx context.Context, c *client.Client, nameOrID string) (*api.DatasourceView, error) {
	d, err := c.Find(ctx, nameOrID)
	if errors.Is(err, client.ErrNotFound) {
		msg := fmt.Sprintf("no datasource named %q", nameOrID)
		if r.viaKey {
			msg += " that the API key in GRANTD_API_KEY may see"
		}
		return nil, exitErr{exitNotFound, msg}
	}
	return d, r.fail(err)
}

// fail turns an error of the client into an exitErr: a problem answer
// into the exit code its status means, with its title, detail and bad
// fields as the message.
func (r *remote) fail(err error) error {
	var p *api.Problem
	var ue *url.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &p) && p.Status == http.StatusForbidden && p.Type == problemForbidden:
		return exitErr{exitForbidden, problemText(p)}
	case errors.As(err, &p):
		return exitErr{exitCode(p.Status), problemText(p)}
	case errors.As(err, &ue):
		return exitErr{exitError, fmt.Sprintf("cannot reach grantd at %s: %v", r.base, ue.Err)}
	case errors.Is(err, client.ErrNotJSON):
		return exitErr{exitError, "grantd answered something that is not JSON"}
	}
	return exitErr{exitError, err.Error()}
}

// exitCode is the exit code of a problem answer with the HTTP status.
func exitCode(status int) int {
	switch status {
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

// problemText is a problem answer as the CLI prints it: title, detail,
// and each bad field on a line of its own.
func problemText(p *api.Problem) string {
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
