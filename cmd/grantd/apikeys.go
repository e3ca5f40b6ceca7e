package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/grantd/grantd/api"
	"github.com/grantd/grantd/api/client"
	"github.com/grantd/grantd/datasource"
)

const apiKeysUsage = `Usage: grantd api-keys create|list|revoke

API keys are credentials for programs: a key may do what its permissions
allow, on every datasource or only on those it names. A program sends it
as the admin token is sent (Authorization: Bearer gk_…); the CLI takes it
in GRANTD_API_KEY. Managing keys needs the admin token or a key with the
admin permission.

  grantd api-keys create --name N --permissions P,P [--datasource D]…   make a key; prints it once
  grantd api-keys list [-o table|json|yaml]                             every key, never the key itself
  grantd api-keys revoke KEY_ID                                         refuse a key from now on, on every replica

Permissions: read, write, proxy, token, connect, mcp, admin.
grantd api-keys COMMAND -h says more.
`

const (
	keyCreateHelp = `Usage: grantd api-keys create --name NAME --permissions P[,P…] [--datasource NAME|ID]… [-o table|json|yaml]

Makes an API key and prints it. The key is shown this once and
will not be shown again (grantd keeps only its hash): store it where the
program reads it, such as its GRANTD_API_KEY. The key alone goes to
stdout and the line saying so to stderr, so KEY=$(grantd api-keys create
…) captures just the key. -o json or -o yaml prints the whole answer, key
included: id, name, permissions, datasources, createdAt, createdBy,
lastUsedAt, key.

--permissions is a comma-separated list of:
  read     GET datasources, their status, events, configuration, metrics
  write    create, replace, delete datasources; authorize, refresh, revoke
  proxy    call datasources through the proxy
  token    the opt-in token endpoint (grantd token)
  connect  connect links and per-user connections
  mcp      call datasources as tools over MCP (no route checks it yet)
  admin    everything, API keys included

--datasource limits the key to a datasource, by name (compared without
regard to case; one created later under the name is covered too) or by
id; repeat it for more. Without it, the key may act on every datasource.
`
	keyListHelp = `Usage: grantd api-keys list [-o table|json|yaml]

Lists every API key, oldest first: id, name, permissions, the datasources
it is limited to (all when none), when and by whom it was made, and when
it was last used. The key itself is never shown. Last use is coarse:
recorded at most once a minute.
`
	keyRevokeHelp = `Usage: grantd api-keys revoke KEY_ID

Revokes an API key by its id (key_…, as grantd api-keys list shows it):
grantd refuses the key from now on, at once on the replica asked and on
the others of a shared store as soon as they see the change. Given the key
itself (gk_…) instead, only its id is sent and printed. An unknown id
exits 3.
`
)

// apiKeysCmd is grantd api-keys create|list|revoke.
func apiKeysCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub, args, err := subcommand("api-keys", apiKeysUsage, args, stdout, stderr)
	if err != nil {
		return err
	}
	help := map[string]string{"create": keyCreateHelp, "list": keyListHelp, "ls": keyListHelp, "revoke": keyRevokeHelp}[sub]
	if help == "" {
		fmt.Fprint(stderr, apiKeysUsage)
		return usageError{fmt.Sprintf("api-keys: unknown command %q", sub)}
	}
	name := "api-keys " + sub
	var keyName, perms string
	var only fileList
	r, rest, err := parseClient(name, help, args, stdout, func(fs *flag.FlagSet) {
		if help == keyCreateHelp {
			fs.StringVar(&keyName, "name", "", "what the key is for (`NAME`); it names the key in events and logs")
			fs.StringVar(&perms, "permissions", "", "comma-separated `list` of read, write, proxy, token, connect, mcp, admin")
			fs.Var(&only, "datasource", "limit the key to this datasource (`NAME|ID`); repeat for more; none: every datasource")
		}
	})
	if err != nil {
		return err
	}
	switch sub {
	case "create":
		if err := want(name, "", rest, 0); err != nil {
			return err
		}
		if keyName == "" || perms == "" {
			return usageError{fmt.Sprintf("%s: want --name and --permissions (see grantd %s -h)", name, name)}
		}
		return createAPIKey(ctx, r, keyName, perms, only, stdout, stderr)
	case "revoke":
		if err := want(name, "one KEY_ID", rest, 1); err != nil {
			return err
		}
		// A key given where its id belongs is never sent, nor printed.
		id, err := client.APIKeyID(rest[0])
		if errors.Is(err, client.ErrKeyNotID) {
			return usageError{name + ": that starts like an API key (gk_…) but is not one; give the key's id (key_…, see grantd api-keys list)"}
		}
		c, err := r.connect()
		if err != nil {
			return err
		}
		if err := c.RevokeAPIKey(ctx, id); err != nil {
			return r.fail(err)
		}
		fmt.Fprintf(stdout, "revoked API key %s\n", id)
		return nil
	default: // list, ls
		if err := want(name, "", rest, 0); err != nil {
			return err
		}
		c, err := r.connect()
		if err != nil {
			return err
		}
		keys, err := c.APIKeys(ctx)
		if err != nil {
			return r.fail(err)
		}
		if r.output != "table" {
			return emit(stdout, r.output, api.APIKeyList{APIKeys: keys})
		}
		return keyTable(stdout, keys)
	}
}

func createAPIKey(ctx context.Context, r *remote, name, perms string, only []string, stdout, stderr io.Writer) error {
	var ps []datasource.Permission
	for _, p := range strings.Split(perms, ",") {
		if p = strings.TrimSpace(p); p != "" {
			ps = append(ps, datasource.Permission(p))
		}
	}
	c, err := r.connect()
	if err != nil {
		return err
	}
	k, err := c.CreateAPIKey(ctx, name, ps, only)
	if err != nil {
		return r.fail(err)
	}
	if r.output == "table" {
		fmt.Fprintln(stdout, k.Key)
	} else if err := emit(stdout, r.output, k); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "created API key %s (%s): %s on %s.\nThe key is shown only now and will not be shown again; grantd keeps only its hash.\n",
		k.ID, k.Name, permList(k.Permissions), datasourceList(k.Datasources))
	return nil
}

// keyTable prints API keys one a row.
func keyTable(w io.Writer, keys []api.APIKeyView) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tPERMISSIONS\tDATASOURCES\tCREATED\tBY\tLAST USED")
	for _, k := range keys {
		used := "never"
		if k.LastUsedAt != nil {
			used = k.LastUsedAt.UTC().Format(time.RFC3339)
		}
		only := "all"
		if len(k.Datasources) > 0 {
			only = oneLine(strings.Join(k.Datasources, ","), 60)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, oneLine(k.Name, 40), permList(k.Permissions),
			only, k.CreatedAt.UTC().Format(time.RFC3339), oneLine(k.CreatedBy, 40), used)
	}
	return tw.Flush()
}

func permList(ps []datasource.Permission) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = string(p)
	}
	return strings.Join(s, ",")
}

// datasourceList says which datasources a key may act on, in words.
func datasourceList(ds []string) string {
	if len(ds) == 0 {
		return "every datasource"
	}
	return strings.Join(ds, ", ")
}
