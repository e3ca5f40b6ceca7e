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
// and, over the API of a running grantd (GRANTD_URL, GRANTD_ADMIN_TOKEN):
//
//	grantd apply -f FILE [--dry-run]       create or update datasources by name
//	grantd export                          the current set as an apply file, without secrets
//	grantd datasources list|get|delete     …
//	grantd token NAME                      print a current access token (exposeToken only)
//	grantd authorize NAME                  print the authorize URL
//	grantd status                          health and datasources by status
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
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
  grantd version              print the version

Against a running grantd (GRANTD_URL, default http://127.0.0.1:8080, and GRANTD_ADMIN_TOKEN):
  grantd apply -f FILE [--dry-run]    create or update datasources by name (YAML or JSON)
  grantd export                       the current set as an apply file, without secrets
  grantd datasources list|get|delete  list, show or delete datasources (NAME or ID)
  grantd token NAME                   print a current access token (exposeToken only)
  grantd authorize NAME               print the URL a person opens to authorize
  grantd status                       grantd's health and datasources by status
  (-o table|json|yaml; exit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 bad admin token,
   5 rejected input, 6 datasource not usable, 7 grantd unavailable)
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{"no command"}
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case "keys":
		if len(args) < 2 {
			return usageError{"keys: want rotate or generate"}
		}
		switch args[1] {
		case "rotate":
			return keysRotate(ctx, args[2:], stdout, stderr)
		case "generate":
			return keysGenerate(stdout)
		}
		return usageError{"keys: want rotate or generate"}
	case "admin-token":
		if len(args) < 2 || args[1] != "reset" {
			return usageError{"admin-token: want reset"}
		}
		return adminTokenReset(ctx, args[2:], stdout, stderr)
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
	case "status":
		return statusCmd(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "grantd", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Sprintf("unknown command %q", args[0])}
}
