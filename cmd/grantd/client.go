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
	exitNotFound    = 3 // no such datasource or connection
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

// remote is where a client command finds grantd: GRANTD_URL (default
// http://127.0.0.1:8080), and how it prints what grantd answers.
type remote struct {
	base   string
	output string // table, json or yaml
}

// clientHelp ends the help of every command that talks to grantd.
const clientHelp = `
Talks to a running grantd at GRANTD_URL (default http://127.0.0.1:8080, or
--url) with the admin token in GRANTD_ADMIN_TOKEN.

Exit codes: 0 ok, 1 error or grantd unreachable, 2 usage, 3 not found
(datasource or connection), 4 admin token refused, 5 rejected input
(invalid, duplicate, a shared datasource asked for connections), 6 not
usable (not authorized, token not exposed, a failing check), 7 grantd
cannot take writes.
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

// connect returns a client of grantd with the admin token
// GRANTD_ADMIN_TOKEN.
func (r *remote) connect() (*client.Client, error) {
	token := os.Getenv("GRANTD_ADMIN_TOKEN")
	if token == "" {
		return nil, exitErr{exitUsage, "set GRANTD_ADMIN_TOKEN to the admin token"}
	}
	return client.New(r.base, token, client.WithHTTPClient(&http.Client{Timeout: 60 * time.Second})), nil
}

// find resolves the NAME|ID argument of a command.
func (r *remote) find(ctx context.Context, c *client.Client, nameOrID string) (*api.DatasourceView, error) {
	d, err := c.Find(ctx, nameOrID)
	if errors.Is(err, client.ErrNotFound) {
		return nil, exitErr{exitNotFound, fmt.Sprintf("no datasource named %q", nameOrID)}
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
