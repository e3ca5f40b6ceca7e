package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v3"
)

func parseClient(name string, args []string, stderr io.Writer, extra func(fs *flag.FlagSet)) (*client, []string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := clientFlags(fs)
	if extra != nil {
		extra(fs)
	}
	// Flags may come before or after the positional arguments
	// (grantd datasources get Vectara -o json).
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, nil, exitErr{exitUsage, err.Error()}
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if err := c.ready(); err != nil {
		return nil, nil, err
	}
	return c, positional, nil
}

// datasourcesCmd is grantd datasources list|get|delete.
func datasourcesCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return exitErr{exitUsage, "datasources: want list, get NAME or delete NAME"}
	}
	sub := args[0]
	c, rest, err := parseClient("datasources "+sub, args[1:], stderr, nil)
	if err != nil {
		return err
	}
	switch sub {
	case "list", "ls":
		list, err := c.list(ctx)
		if err != nil {
			return err
		}
		if c.output != "table" {
			return emit(stdout, c.output, map[string]any{"datasources": list})
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tID\tGRANT\tSTATUS\tEXPIRES\tLAST ERROR")
		for _, d := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.Name, d.ID, d.Auth["grantType"], d.Authorization.Status,
				expiresIn(d.Authorization.ExpiresAt), oneLine(d.Authorization.LastError, 60))
		}
		return tw.Flush()
	case "get":
		if len(rest) != 1 {
			return exitErr{exitUsage, "datasources get: want one NAME or ID"}
		}
		d, err := c.find(ctx, rest[0])
		if err != nil {
			return err
		}
		out := c.output
		if out == "table" {
			out = "yaml"
		}
		return emit(stdout, out, d)
	case "delete", "rm":
		if len(rest) != 1 {
			return exitErr{exitUsage, "datasources delete: want one NAME or ID"}
		}
		d, err := c.find(ctx, rest[0])
		if err != nil {
			return err
		}
		if err := c.do(ctx, "DELETE", "/api/v1/datasources/"+url.PathEscape(d.ID), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted %s (%s)\n", d.Name, d.ID)
		return nil
	}
	return exitErr{exitUsage, fmt.Sprintf("datasources: unknown command %q", sub)}
}

// tokenCmd prints a current access token, for scripts: only datasources
// that set exposeToken hand one out.
func tokenCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, rest, err := parseClient("token", args, stderr, nil)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return exitErr{exitUsage, "token: want one NAME or ID"}
	}
	d, err := c.find(ctx, rest[0])
	if err != nil {
		return err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := c.do(ctx, "POST", "/api/v1/datasources/"+url.PathEscape(d.ID)+"/token", nil, &tok); err != nil {
		return err
	}
	if c.output == "table" {
		fmt.Fprintln(stdout, tok.AccessToken)
		return nil
	}
	return emit(stdout, c.output, tok)
}

// authorizeCmd prints the URL a person opens to authorize a datasource.
func authorizeCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var returnTo string
	c, rest, err := parseClient("authorize", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&returnTo, "return-to", "", "relative path grantd sends the person to afterwards")
	})
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return exitErr{exitUsage, "authorize: want one NAME or ID"}
	}
	d, err := c.find(ctx, rest[0])
	if err != nil {
		return err
	}
	var out struct {
		AuthorizeURL string `json:"authorizeUrl"`
	}
	if err := c.do(ctx, "POST", "/api/v1/datasources/"+url.PathEscape(d.ID)+"/authorize", map[string]string{"returnTo": returnTo}, &out); err != nil {
		return err
	}
	fmt.Fprintln(stdout, out.AuthorizeURL)
	return nil
}

// statusCmd summarises grantd: reachable, version, datasources by status.
// It exits 0 when every datasource is authorized, 6 when some is not.
func statusCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, _, err := parseClient("status", args, stderr, nil)
	if err != nil {
		return err
	}
	var cfg struct {
		Version     string `json:"version"`
		RedirectURI string `json:"redirectUri"`
	}
	if err := c.do(ctx, "GET", "/api/v1/config", nil, &cfg); err != nil {
		return err
	}
	list, err := c.list(ctx)
	if err != nil {
		return err
	}
	counts := map[string]int{}
	var bad []dsView
	for _, d := range list {
		counts[d.Authorization.Status]++
		if d.Authorization.Status != "authorized" {
			bad = append(bad, d)
		}
	}
	if c.output != "table" {
		if err := emit(stdout, c.output, map[string]any{"url": c.base, "version": cfg.Version, "redirectUri": cfg.RedirectURI,
			"datasources": len(list), "byStatus": counts}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "grantd %s at %s\nredirect URI: %s\n%d datasources:", cfg.Version, c.base, cfg.RedirectURI, len(list))
		keys := make([]string, 0, len(counts))
		for k := range counts {
			keys = append(keys, k)
		}
		sort.Strings(keys)
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

func expiresIn(at *string) string {
	if at == nil {
		return "-"
	}
	t, err := time.Parse(time.RFC3339Nano, *at)
	if err != nil {
		return *at
	}
	d := time.Until(t).Round(time.Second)
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
