package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/grantd/grantd/api"
	"github.com/grantd/grantd/datasource"
)

// parseClient parses the flags of a command that talks to grantd: the
// common ones (--url, -o), those extra adds, and -h, which prints help and
// clientHelp to stdout.
func parseClient(name, help string, args []string, stdout io.Writer, extra func(fs *flag.FlagSet)) (*remote, []string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	r := clientFlags(fs)
	if extra != nil {
		extra(fs)
	}
	positional, err := parseArgs(fs, help+clientHelp, args, stdout)
	if err != nil {
		return nil, nil, err
	}
	if err := r.ready(); err != nil {
		return nil, nil, err
	}
	return r, positional, nil
}

// want checks the number of positional arguments of a command.
func want(name, what string, positional []string, n int) error {
	if len(positional) == n {
		return nil
	}
	if n == 0 {
		return usageError{fmt.Sprintf("%s: unexpected argument %q (see grantd %s -h)", name, positional[0], name)}
	}
	return usageError{fmt.Sprintf("%s: want %s (see grantd %s -h)", name, what, name)}
}

const datasourcesUsage = `Usage: grantd datasources list|get|delete (or grantd ds …)

  grantd datasources list [-o table|json|yaml]           every datasource with its status
  grantd datasources get NAME|ID [-o table|json|yaml]    one datasource (-o yaml for every field)
  grantd datasources delete NAME|ID                      delete one; its tokens are revoked and erased

grantd datasources COMMAND -h says more.
`

const (
	listHelp = `Usage: grantd datasources list [-o table|json|yaml]

Lists every datasource: name, id, grant type, status, token expiry and the
last error. -o json or -o yaml prints every field of each.
`
	getHelp = `Usage: grantd datasources get NAME|ID [-o table|json|yaml]

Shows one datasource, by name or id: as a table row like list's by
default; -o yaml or -o json prints every field (secrets are never shown).
`
	deleteHelp = `Usage: grantd datasources delete NAME|ID

Deletes one datasource, by name or id; its tokens are revoked at the
provider where it allows that, and erased.
`
)

// datasourcesCmd is grantd datasources list|get|delete.
func datasourcesCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub, args, err := subcommand("datasources", datasourcesUsage, args, stdout, stderr)
	if err != nil {
		return err
	}
	help := map[string]string{"list": listHelp, "ls": listHelp, "get": getHelp, "delete": deleteHelp, "rm": deleteHelp}[sub]
	if help == "" {
		fmt.Fprint(stderr, datasourcesUsage)
		return usageError{fmt.Sprintf("datasources: unknown command %q", sub)}
	}
	name := "datasources " + sub
	r, rest, err := parseClient(name, help, args, stdout, nil)
	if err != nil {
		return err
	}
	if sub == "list" || sub == "ls" {
		err = want(name, "", rest, 0)
	} else {
		err = want(name, "one NAME or ID", rest, 1)
	}
	if err != nil {
		return err
	}
	c, err := r.connect()
	if err != nil {
		return err
	}
	switch sub {
	case "list", "ls":
		list, err := c.List(ctx)
		if err != nil {
			return r.fail(err)
		}
		if r.output != "table" {
			return emit(stdout, r.output, api.DatasourceList{Datasources: list})
		}
		return table(stdout, list)
	case "get":
		d, err := r.find(ctx, c, rest[0])
		if err != nil {
			return err
		}
		if r.output == "table" {
			return table(stdout, []api.DatasourceView{*d})
		}
		return emit(stdout, r.output, d)
	default: // delete, rm
		d, err := r.find(ctx, c, rest[0])
		if err != nil {
			return err
		}
		if err := c.Delete(ctx, d.ID); err != nil {
			return r.fail(err)
		}
		fmt.Fprintf(stdout, "deleted %s (%s)\n", d.Name, d.ID)
		return nil
	}
}

// table prints datasources one a row, as list and get do.
func table(w io.Writer, list []api.DatasourceView) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tGRANT\tSTATUS\tEXPIRES\tLAST ERROR")
	for _, d := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.Name, d.ID, d.Auth.GrantType, d.Authorization.Status,
			expiresIn(d.Authorization.ExpiresAt), oneLine(d.Authorization.LastError, 60))
	}
	return tw.Flush()
}

const tokenHelp = `Usage: grantd token NAME|ID [-o table|json|yaml]

Prints a current access token of a datasource, for scripts (refreshed
first when due). Only datasources that set exposeToken: true hand one out;
others exit 6. -o json or -o yaml prints token_type and expires_in too.
`

// tokenCmd prints a current access token, for scripts: only datasources
// that set exposeToken hand one out.
func tokenCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	r, rest, err := parseClient("token", tokenHelp, args, stdout, nil)
	if err != nil {
		return err
	}
	if err := want("token", "one NAME or ID", rest, 1); err != nil {
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
	tok, err := c.Token(ctx, d.ID)
	if err != nil {
		return r.fail(err)
	}
	if r.output == "table" {
		fmt.Fprintln(stdout, tok.AccessToken)
		return nil
	}
	return emit(stdout, r.output, tok)
}

const authorizeHelp = `Usage: grantd authorize NAME|ID [--return-to PATH]

Prints the URL a person opens in a browser to authorize an
authorization-code datasource at its provider. The URL holds a one-time
state that expires in 10 minutes.
`

// authorizeCmd prints the URL a person opens to authorize a datasource.
func authorizeCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var returnTo string
	r, rest, err := parseClient("authorize", authorizeHelp, args, stdout, func(fs *flag.FlagSet) {
		fs.StringVar(&returnTo, "return-to", "", "relative `PATH` grantd sends the person to afterwards, with the outcome in its query")
	})
	if err != nil {
		return err
	}
	if err := want("authorize", "one NAME or ID", rest, 1); err != nil {
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
	u, err := c.Authorize(ctx, d.ID, returnTo)
	if err != nil {
		return r.fail(err)
	}
	fmt.Fprintln(stdout, u)
	return nil
}

const statusHelp = `Usage: grantd status [-o table|json|yaml]

Says whether grantd answers, its version and redirect URI, and how many
datasources are in each status, naming those that are not authorized.
It exits 0 when every datasource is authorized and 6 while any is not.
`

// statusCmd summarises grantd: reachable, version, datasources by status.
// It exits 0 when every datasource is authorized, 6 when some is not.
func statusCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	r, rest, err := parseClient("status", statusHelp, args, stdout, nil)
	if err != nil {
		return err
	}
	if err := want("status", "", rest, 0); err != nil {
		return err
	}
	c, err := r.connect()
	if err != nil {
		return err
	}
	info, err := c.ServerInfo(ctx)
	if err != nil {
		return r.fail(err)
	}
	list, err := c.List(ctx)
	if err != nil {
		return r.fail(err)
	}
	counts := map[datasource.Status]int{}
	var bad []api.DatasourceView
	for _, d := range list {
		counts[d.Authorization.Status]++
		if d.Authorization.Status != datasource.StatusAuthorized {
			bad = append(bad, d)
		}
	}
	if r.output != "table" {
		if err := emit(stdout, r.output, map[string]any{"url": r.base, "version": info.Version, "redirectUri": info.RedirectURI,
			"datasources": len(list), "byStatus": counts}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "grantd %s at %s\nredirect URI: %s\n%d datasources:", info.Version, r.base, info.RedirectURI, len(list))
		keys := make([]datasource.Status, 0, len(counts))
		for k := range counts {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(stdout, " %d %s", counts[k], k)
		}
		fmt.Fprintln(stdout)
		for _, d := range bad {
			fmt.Fprintf(stdout, "  %s: %s %s\n", d.Name, d.Authorization.Status, oneLine(d.Authorization.LastError, 100))
		}
	}
	if len(bad) > 0 {
		return exitErr{exitNotUsable, ""}
	}
	return nil
}

func emit(w io.Writer, format string, v any) error {
	if format == "yaml" {
		b, err := json.Marshal(v) // through JSON, so YAML uses the API's names
		if err != nil {
			return err
		}
		var generic any
		json.Unmarshal(b, &generic)
		enc := yaml.NewEncoder(w)
		enc.SetIndent(2)
		defer enc.Close()
		return enc.Encode(generic)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func expiresIn(at *time.Time) string {
	if at == nil {
		return "-"
	}
	d := time.Until(*at).Round(time.Second)
	if d < 0 {
		return "expired"
	}
	return "in " + d.String()
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
