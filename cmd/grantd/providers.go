package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/grantd/grantd/provider"
)

const providersUsage = `Usage: grantd providers list [-o table|json|yaml] [SEARCH]

  grantd providers list    the provider catalogue a datasource's "provider" names

grantd providers list -h says more.
`

const providersListHelp = `Usage: grantd providers list [-o table|json|yaml] [SEARCH]

Lists the provider catalogue built into this grantd (the one a server of
this version serves at GET /api/v1/providers): each entry's name, the
grants it supports, the connectionConfig values its URL templates need,
and the documentation it cites. SEARCH keeps entries whose name, alias,
title or description contains it (case ignored).

A datasource that says "provider": "<name>" gets the entry's URLs,
scopes, client authentication and quirks for every field it leaves
empty; explicit fields win. -o json or yaml prints whole entries.
`

func providersCmd(args []string, stdout, stderr io.Writer) error {
	sub, rest, err := subcommand("providers", providersUsage, args, stdout, stderr)
	if err != nil {
		return err
	}
	if sub != "list" {
		fmt.Fprint(stderr, providersUsage)
		return usageError{fmt.Sprintf("unknown providers command %q", sub)}
	}
	fs := flag.NewFlagSet("providers list", flag.ContinueOnError)
	output := fs.String("o", "table", "the output `FORMAT`: table, json or yaml")
	rest, err = parseArgs(fs, providersListHelp, rest, stdout)
	if err != nil {
		return err
	}
	if len(rest) > 1 {
		return usageError{"providers list takes at most one SEARCH"}
	}
	switch *output {
	case "table", "json", "yaml":
	default:
		return usageError{fmt.Sprintf("-o %q: want table, json or yaml", *output)}
	}
	search := ""
	if len(rest) == 1 {
		search = strings.ToLower(rest[0])
	}
	var list []*provider.Entry
	for _, e := range provider.All() {
		text := strings.ToLower(strings.Join(append([]string{e.Name, e.Title, e.Description}, e.Aliases...), "\n"))
		if strings.Contains(text, search) {
			list = append(list, e)
		}
	}
	if *output != "table" {
		return emit(stdout, *output, map[string]any{"providers": list})
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTITLE\tGRANTS\tNEEDS\tDOCS")
	for _, e := range list {
		grants := make([]string, len(e.GrantTypes))
		for i, g := range e.GrantTypes {
			grants[i] = string(g)
		}
		if !e.OAuth2() {
			grants = []string{"auth.type " + string(e.AuthType)} // no grant: a fixed credential
		}
		var needs []string
		for _, c := range e.ConnectionConfig {
			needs = append(needs, c.Name)
		}
		if len(needs) == 0 {
			needs = []string{"-"}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Name, e.Title, strings.Join(grants, ","), strings.Join(needs, ","), e.Docs)
	}
	return tw.Flush()
}
