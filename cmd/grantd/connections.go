package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/grantd/grantd/api"
	"github.com/grantd/grantd/datasource"
)

const connectionsUsage = `Usage: grantd connections list|get|delete|refresh|revoke|check

The connections of a per-user datasource: one per end user of the app
backend, each with its own tokens and status.

  grantd connections list DATASOURCE [--status S] [-o table|json|yaml]   every connection (all pages)
  grantd connections get DATASOURCE END_USER [-o table|json|yaml]       one end user's connection
  grantd connections delete DATASOURCE END_USER                         delete it; its tokens are revoked and erased
  grantd connections refresh DATASOURCE END_USER                        a token request for that end user now
  grantd connections revoke DATASOURCE END_USER                         revoke and erase their tokens; the connection stays
  grantd connections check DATASOURCE END_USER                          run the health check for that end user now

DATASOURCE is a name or an id; END_USER is the app backend's id of the
end user. grantd connect DATASOURCE END_USER makes the link an end user
opens to connect. grantd connections COMMAND -h says more.
`

const (
	connListHelp = `Usage: grantd connections list DATASOURCE [--status S] [-o table|json|yaml]

Lists every connection of a per-user datasource, in end user id order,
walking all pages: end user, status, token expiry, health and the last
error. --status keeps one status (authorized, unauthorized,
needs_reauthorization, error). -o json or -o yaml prints every field.
A shared datasource has no connections (exit 5).
`
	connGetHelp = `Usage: grantd connections get DATASOURCE END_USER [-o table|json|yaml]

Shows one end user's connection to a per-user datasource: as a table row
like list's by default; -o json or -o yaml prints every field (tokens are
never shown). An end user with no connection exits 3.
`
	connDeleteHelp = `Usage: grantd connections delete DATASOURCE END_USER

Deletes one end user's connection; its tokens are revoked at the provider
where it allows that, and erased. Calls for that end user answer 424 with
a connect link afterwards.
`
	connRefreshHelp = `Usage: grantd connections refresh DATASOURCE END_USER [-o table|json|yaml]

Makes a token request for one end user now, whatever the backoff says,
and shows the connection afterwards. It exits 6 when the connection is
not authorized afterwards (the last error says why).
`
	connRevokeHelp = `Usage: grantd connections revoke DATASOURCE END_USER [-o table|json|yaml]

Revokes one end user's tokens at the provider (RFC 7009) where it allows
that, and erases them. The connection stays, unauthorized, until that
person connects again (grantd connect) or it is deleted.
`
	connCheckHelp = `Usage: grantd connections check DATASOURCE END_USER [-o table|json|yaml]

Runs the datasource's health check for one end user now (without a
healthCheck: whether a usable token can be had) and shows the outcome.
It exits 6 when the check fails.
`
)

// connectionsCmd is grantd connections list|get|delete|refresh|revoke|check.
func connectionsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub, args, err := subcommand("connections", connectionsUsage, args, stdout, stderr)
	if err != nil {
		return err
	}
	help := map[string]string{"list": connListHelp, "ls": connListHelp, "get": connGetHelp, "delete": connDeleteHelp, "rm": connDeleteHelp,
		"refresh": connRefreshHelp, "revoke": connRevokeHelp, "check": connCheckHelp}[sub]
	if help == "" {
		fmt.Fprint(stderr, connectionsUsage)
		return usageError{fmt.Sprintf("connections: unknown command %q", sub)}
	}
	name := "connections " + sub
	var status string
	r, rest, err := parseClient(name, help, args, stdout, func(fs *flag.FlagSet) {
		if help == connListHelp {
			fs.StringVar(&status, "status", "", "only connections in this `status`: authorized, unauthorized, needs_reauthorization or error")
		}
	})
	if err != nil {
		return err
	}
	if help == connListHelp {
		err = want(name, "one DATASOURCE (a name or an id)", rest, 1)
	} else {
		err = want(name, "DATASOURCE and END_USER", rest, 2)
	}
	if err != nil {
		return err
	}
	c, err := r.connect()
	if err != nil {
		return err
	}
	d, err := r.find(ctx, c, rest[0])
	if err != nil {
		return err
	}
	if help == connListHelp {
		list, err := c.AllConnections(ctx, d.ID, datasource.Status(status))
		if err != nil {
			return r.fail(err)
		}
		if r.output != "table" {
			return emit(stdout, r.output, connectionsAnswer{Datasource: d.ID, Connections: list})
		}
		return connTable(stdout, list)
	}
	user := rest[1]
	var conn *api.ConnectionView
	switch sub {
	case "get":
		conn, err = c.Connection(ctx, d.ID, user)
	case "refresh":
		conn, err = c.RefreshConnection(ctx, d.ID, user)
	case "check":
		conn, err = c.CheckConnection(ctx, d.ID, user)
	case "revoke":
		rev, err := c.RevokeConnection(ctx, d.ID, user)
		if err != nil {
			return r.fail(err)
		}
		if r.output != "table" {
			return emit(stdout, r.output, rev)
		}
		where := "erased"
		if rev.RevokedAtProvider {
			where = "revoked at the provider and erased"
		} else if rev.ProviderError != "" {
			where = "erased (the provider refused to revoke: " + oneLine(rev.ProviderError, 100) + ")"
		}
		fmt.Fprintf(stdout, "the tokens of %s on %s: %s; status %s\n", user, d.Name, where, rev.Status)
		return nil
	default: // delete, rm
		if err := c.DeleteConnection(ctx, d.ID, user); err != nil {
			return r.fail(err)
		}
		fmt.Fprintf(stdout, "deleted the connection of %s to %s (%s)\n", user, d.Name, d.ID)
		return nil
	}
	if err != nil {
		return r.fail(err)
	}
	if r.output == "table" {
		if err := connTable(stdout, []api.ConnectionView{*conn}); err != nil {
			return err
		}
	} else if err := emit(stdout, r.output, conn); err != nil {
		return err
	}
	switch {
	case sub == "refresh" && conn.Authorization.Status != datasource.StatusAuthorized:
		return exitErr{exitNotUsable, ""}
	case sub == "check" && (conn.Health == nil || !conn.Health.OK):
		return exitErr{exitNotUsable, ""}
	}
	return nil
}

// connectionsAnswer is what connections list -o json|yaml prints: every
// page at once.
type connectionsAnswer struct {
	Datasource  string               `json:"datasource"`
	Connections []api.ConnectionView `json:"connections"`
}

// connTable prints connections one a row, as list and get do.
func connTable(w io.Writer, list []api.ConnectionView) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "END USER\tNAME\tSTATUS\tEXPIRES\tHEALTH\tLAST ERROR")
	for _, c := range list {
		name := c.EndUser.DisplayName
		if name == "" {
			name = c.EndUser.Email
		}
		if name == "" {
			name = "-"
		}
		last := c.Authorization.LastError
		health := "-"
		if h := c.Health; h != nil {
			health = "ok"
			if !h.OK {
				health = "failing"
				if last == "" {
					last = h.Detail
				}
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.EndUserID, oneLine(name, 40), c.Authorization.Status,
			expiresIn(c.Authorization.ExpiresAt), health, oneLine(last, 60))
	}
	return tw.Flush()
}

const connectHelp = `Usage: grantd connect DATASOURCE END_USER [--return-to URL] [--display-name N] [--email E]

Prints a one-time link that connects END_USER (the app backend's id of
the end user) to a per-user datasource (a name or an id). That person
opens it in their browser, signs in at the provider, and comes back to
--return-to with datasource, endUserId and result in its query. The link
works once and expires in 30 minutes. Connecting again keeps the
connection and replaces its tokens. -o json or -o yaml prints the link's
expiry too.

--return-to is a path on grantd, or an absolute URL on an origin the
server allows with --allowed-return-origins. --display-name and --email
are shown beside the connection.
`

// connectCmd prints a connect link for one end user.
func connectCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var req api.ConnectSessionRequest
	r, rest, err := parseClient("connect", connectHelp, args, stdout, func(fs *flag.FlagSet) {
		fs.StringVar(&req.ReturnTo, "return-to", "", "where the browser goes afterwards: a path on grantd, or an absolute `URL` on an allowed origin")
		fs.StringVar(&req.EndUser.DisplayName, "display-name", "", "the end user's `name`, shown beside the connection")
		fs.StringVar(&req.EndUser.Email, "email", "", "the end user's `email`, shown beside the connection")
	})
	if err != nil {
		return err
	}
	if err := want("connect", "DATASOURCE and END_USER", rest, 2); err != nil {
		return err
	}
	c, err := r.connect()
	if err != nil {
		return err
	}
	// grantd takes the name or the id itself.
	req.Datasource, req.EndUserID = rest[0], rest[1]
	cs, err := c.CreateConnectSession(ctx, req)
	if err != nil {
		return r.fail(err)
	}
	if r.output == "table" {
		fmt.Fprintln(stdout, cs.ConnectURL)
		return nil
	}
	return emit(stdout, r.output, cs)
}
