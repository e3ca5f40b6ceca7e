// Command grantd is the datasource-auth engine as a server: REST API, web
// UI and authenticating proxy, on an embedded bbolt store with secrets
// sealed by Tink.
//
// Usage:
//
//	grantd serve [flags]          run the server (flags have GRANTD_* env twins)
//	grantd keys rotate            add a primary key and re-encrypt stored secrets
//	grantd keys generate          print a new random master key for GRANTD_MASTER_KEY
//	grantd admin-token reset      replace the admin token and print the new one
//	grantd version                print the version
//
// and, over the API of a running grantd (GRANTD_URL, and GRANTD_API_KEY or
// GRANTD_ADMIN_TOKEN):
//
//	grantd apply -f FILE [--dry-run]       create or update datasources by name
//	grantd export                          the current set as an apply file, without secrets
//	grantd datasources list|get|delete     …
//	grantd token NAME                      print a current access token (exposeToken only)
//	grantd authorize NAME                  print the authorize URL
//	grantd connections list|get|delete|refresh|revoke|check   a per-user datasource's connections
//	grantd connect NAME END_USER           print a connect link for an end user
//	grantd api-keys create|list|revoke     API keys for programs
//	grantd status                          health and datasources by status
//	grantd providers list [SEARCH]         the provider catalogue
//
// grantd COMMAND -h (or grantd help COMMAND) prints a command's help and
// exits 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(os.Stderr, "grantd:", msg)
		}
		var ue usageError
		var ee exitErr
		switch {
		case errors.As(err, &ue):
			os.Exit(exitUsage)
		case errors.As(err, &ee):
			os.Exit(ee.code)
		}
		os.Exit(exitError)
	}
}

type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

const usage = `grantd — OAuth 2.0 for datasources

Usage:
  grantd serve [flags]        run the server (see grantd serve -h)
  grantd keys rotate          add a primary key and re-encrypt stored secrets (server stopped)
  grantd keys generate        print a new random master key for GRANTD_MASTER_KEY
  grantd admin-token reset    replace the admin token and print the new one (server stopped)
  grantd skill export DIR     write an Agent Skill that teaches an agent to call datasources through grantd
  grantd version              print the version
  grantd providers list [SEARCH]  the provider catalogue a datasource's "provider" names

Against a running grantd (GRANTD_URL, default http://127.0.0.1:8080, and GRANTD_API_KEY or
GRANTD_ADMIN_TOKEN; the API key wins when both are set):
  grantd apply -f FILE [--dry-run]    create or update datasources by name (YAML or JSON)
  grantd export                       the current set as an apply file, without secrets
  grantd datasources list|get|delete  list, show or delete datasources (NAME or ID)
  grantd token NAME                   print a current access token (exposeToken only)
  grantd authorize NAME               print the URL a person opens to authorize
  grantd connections list|get|delete|refresh|revoke|check
                                      the connections of a per-user datasource (NAME END_USER)
  grantd connect NAME END_USER        print the link an end user opens to connect their account
  grantd api-keys create|list|revoke  API keys for programs, with permissions and datasources
  grantd status                       grantd's health and datasources by status
  (-o table|json|yaml; exit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 credentials refused,
   5 rejected input, 6 datasource not usable, 7 grantd unavailable, 8 forbidden to the API key)

grantd COMMAND -h (or grantd help COMMAND) describes a command and its flags.
`

const keysUsage = `Usage: grantd keys rotate|generate

  grantd keys rotate [--data-dir DIR]  add a primary key and re-encrypt stored secrets (server stopped)
  grantd keys generate                 print a new random master key for GRANTD_MASTER_KEY

grantd keys rotate -h and grantd keys generate -h say more.
`

const adminTokenUsage = `Usage: grantd admin-token reset [--data-dir DIR]

  grantd admin-token reset    replace the admin token and print the new one (server stopped)

grantd admin-token reset -h says more.
`

// run runs the command args names. A command that printed its help on
// request returns flag.ErrHelp; that is a success.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	err := dispatch(ctx, args, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{"no command"}
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case "keys":
		sub, rest, err := subcommand("keys", keysUsage, args[1:], stdout, stderr)
		if err != nil {
			return err
		}
		switch sub {
		case "rotate":
			return keysRotate(ctx, rest, stdout, stderr)
		case "generate":
			return keysGenerate(rest, stdout)
		}
		fmt.Fprint(stderr, keysUsage)
		return usageError{fmt.Sprintf("keys: unknown command %q", sub)}
	case "admin-token":
		sub, rest, err := subcommand("admin-token", adminTokenUsage, args[1:], stdout, stderr)
		if err != nil {
			return err
		}
		if sub != "reset" {
			fmt.Fprint(stderr, adminTokenUsage)
			return usageError{fmt.Sprintf("admin-token: unknown command %q", sub)}
		}
		return adminTokenReset(ctx, rest, stdout, stderr)
	case "apply":
		return applyCmd(ctx, args[1:], stdout, stderr)
	case "export":
		return exportCmd(ctx, args[1:], stdout, stderr)
	case "datasources", "ds":
		return datasourcesCmd(ctx, args[1:], stdout, stderr)
	case "token":
		return tokenCmd(ctx, args[1:], stdout, stderr)
	case "authorize":
		return authorizeCmd(ctx, args[1:], stdout, stderr)
	case "connections":
		return connectionsCmd(ctx, args[1:], stdout, stderr)
	case "connect":
		return connectCmd(ctx, args[1:], stdout, stderr)
	case "api-keys":
		return apiKeysCmd(ctx, args[1:], stdout, stderr)
	case "status":
		return statusCmd(ctx, args[1:], stdout, stderr)
	case "providers":
		return providersCmd(args[1:], stdout, stderr)
	case "skill":
		return skillCmd(ctx, args[1:], stdout, stderr)
	case "version":
		return versionCmd(args[1:], stdout)
	case "--version", "-v":
		fmt.Fprintln(stdout, "grantd", version)
		return nil
	case "help":
		if len(args) > 1 { // grantd help serve is grantd serve -h
			return dispatch(ctx, append(slices.Clone(args[1:]), "-h"), stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return nil
	case "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Sprintf("unknown command %q", args[0])}
}

// subcommand picks the subcommand of a command group (grantd keys rotate).
// Asked for help, it prints groupUsage to stdout and returns flag.ErrHelp;
// given none, it prints groupUsage to stderr and returns a usageError.
func subcommand(group, groupUsage string, args []string, stdout, stderr io.Writer) (string, []string, error) {
	if len(args) == 0 {
		fmt.Fprint(stderr, groupUsage)
		return "", nil, usageError{group + ": want a command"}
	}
	if isHelp(args[0]) {
		fmt.Fprint(stdout, groupUsage)
		return "", nil, flag.ErrHelp
	}
	return args[0], args[1:], nil
}

const versionHelp = `Usage: grantd version

Prints grantd's version (also: grantd --version, grantd -v).
`

func versionCmd(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	rest, err := parseArgs(fs, versionHelp, args, stdout)
	if err != nil {
		return err
	}
	if err := noArgs(fs, rest); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "grantd", version)
	return nil
}
