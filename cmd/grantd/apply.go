package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/grantd/grantd/api"
	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/provider"
)

// fileList is a repeatable -f flag.
type fileList []string

func (f *fileList) String() string     { return strings.Join(*f, ",") }
func (f *fileList) Set(v string) error { *f = append(*f, v); return nil }

const applyHelp = `Usage: grantd apply -f FILE [-f FILE…] [--dry-run]

Creates or updates datasources by name from YAML or JSON: one datasource,
a list of them, or {datasources: [...]}; several YAML documents in a file;
-f - reads standard input. Applying the same file again changes nothing
(every datasource is reported unchanged). A client secret may be a
reference, ${env:NAME} or ${file:/path}, read by grantd at each token
request. Each datasource is reported as created (+), updated (~),
unchanged (=) or failed (!), with its status, and with its lastError when
it has no usable token. --dry-run prints the field-level differences
instead, without secrets, and changes nothing.

A file that cannot be read or parsed exits 5 before grantd is asked
anything; a datasource grantd refuses is reported and the others applied.
`

// applyCmd creates or updates datasources by name from YAML or JSON files,
// idempotently: applying the same file twice changes nothing the second
// time. --dry-run prints what would change, without secrets.
func applyCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var files fileList
	var dryRun bool
	r, rest, err := parseClient("apply", applyHelp, args, stdout, func(fs *flag.FlagSet) {
		fs.Var(&files, "f", "`FILE` to apply (YAML or JSON; - for standard input); repeatable")
		fs.BoolVar(&dryRun, "dry-run", false, "print what would change and change nothing")
	})
	if err != nil {
		return err
	}
	if err := want("apply", "", rest, 0); err != nil {
		return err
	}
	if len(files) == 0 {
		return exitErr{exitUsage, "apply: want -f FILE (see grantd apply -h)"}
	}
	// The files are read before grantd is asked anything: a missing or
	// malformed file is rejected input, whatever else is wrong.
	var desired []map[string]any
	for _, f := range files {
		ds, err := readDatasources(f)
		if err != nil {
			return exitErr{exitRejected, err.Error()}
		}
		desired = append(desired, ds...)
	}
	seen := map[string]bool{}
	for i, d := range desired {
		name, _ := d["name"].(string)
		if name == "" {
			return exitErr{exitRejected, fmt.Sprintf("datasource %d has no name: apply matches datasources by name", i+1)}
		}
		if seen[name] {
			return exitErr{exitRejected, fmt.Sprintf("%q appears twice", name)}
		}
		seen[name] = true
	}
	c, err := r.connect()
	if err != nil {
		return err
	}
	current, err := c.List(ctx)
	if err != nil {
		return r.fail(err)
	}
	// Matched by the exact name, as before apply had a typed client: a
	// name differing only in case is refused by grantd as a duplicate
	// rather than renaming the datasource.
	byName := map[string]api.DatasourceView{}
	for _, d := range current {
		byName[d.Name] = d
	}

	var created, updated, unchanged, failed int
	worst := exitOK
	for _, want := range desired {
		name := want["name"].(string)
		have, exists := byName[name]
		if !exists {
			if dryRun {
				fmt.Fprintf(stdout, "+ %s would be created\n", name)
				for _, l := range describe(want) {
					fmt.Fprintf(stdout, "    %s\n", l)
				}
				created++
				continue
			}
			v, err := c.Create(ctx, want)
			if err != nil {
				err = r.fail(err)
				fmt.Fprintf(stdout, "! %s: %v\n", name, err)
				failed++
				worst = max(worst, codeOf(err))
				continue
			}
			fmt.Fprintf(stdout, "+ %s created (%s, %s)\n", name, v.ID, v.Authorization.Status)
			printLastError(stdout, v)
			created++
			continue
		}
		changes := diff(have, want)
		if dryRun {
			if len(changes) == 0 {
				fmt.Fprintf(stdout, "= %s unchanged\n", name)
				unchanged++
			} else {
				fmt.Fprintf(stdout, "~ %s would be updated\n", name)
				for _, l := range changes {
					fmt.Fprintf(stdout, "    %s\n", l)
				}
				updated++
			}
			continue
		}
		v, err := c.Replace(ctx, have.ID, want)
		if err != nil {
			err = r.fail(err)
			fmt.Fprintf(stdout, "! %s: %v\n", name, err)
			failed++
			worst = max(worst, codeOf(err))
			continue
		}
		if v.UpdatedAt.Equal(have.UpdatedAt) {
			fmt.Fprintf(stdout, "= %s unchanged\n", name)
			unchanged++
		} else {
			fmt.Fprintf(stdout, "~ %s updated (%s)\n", name, v.Authorization.Status)
			updated++
		}
		printLastError(stdout, v)
	}
	verb := ""
	if dryRun {
		verb = " (dry run: nothing changed)"
	}
	fmt.Fprintf(stdout, "%d created, %d updated, %d unchanged, %d failed%s\n", created, updated, unchanged, failed, verb)
	if failed > 0 {
		return exitErr{worst, ""}
	}
	return nil
}

// printLastError says why a datasource apply created or updated has no
// usable token (status error or needs_reauthorization), so that a
// rejected client secret is seen at once rather than at the first call.
func printLastError(w io.Writer, v *api.DatasourceView) {
	switch v.Authorization.Status {
	case datasource.StatusError, datasource.StatusNeedsReauthorization:
		if v.Authorization.LastError != "" {
			fmt.Fprintf(w, "    lastError: %s\n", oneLine(v.Authorization.LastError, 1000))
		}
	}
}

func codeOf(err error) int {
	var ee exitErr
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitError
}

// readDatasources reads one file: a datasource, a list of them, or
// {"datasources": [...]}, in YAML (several documents allowed) or JSON.
func readDatasources(path string) ([]map[string]any, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(os.Stdin)
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var out []map[string]any
	for doc := 1; ; doc++ {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		list, err := datasourcesOf(v)
		if err != nil {
			return nil, fmt.Errorf("%s (document %d): %v", path, doc, err)
		}
		out = append(out, list...)
	}
	return out, nil
}

func datasourcesOf(v any) ([]map[string]any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []any:
		var out []map[string]any
		for i, e := range x {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("item %d is not a datasource object", i+1)
			}
			out = append(out, m)
		}
		return out, nil
	case map[string]any:
		if list, ok := x["datasources"]; ok && len(x) == 1 {
			return datasourcesOf(list)
		}
		return []map[string]any{x}, nil
	}
	return nil, fmt.Errorf("want a datasource, a list, or {datasources: [...]}")
}

// normalized is the desired datasource as grantd will store it (defaults
// filled), for comparing with what is there.
func normalized(want map[string]any) (*datasource.Datasource, error) {
	b, _ := json.Marshal(want)
	var d datasource.Datasource
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, err
	}
	// As the server fills it: a provider's values are stored as the
	// datasource's own, so an applied file is unchanged on the next run.
	if err := provider.Fill(&d); err != nil {
		return nil, err
	}
	d.Normalize()
	return &d, nil
}

// diff lists what applying want would change in have. Secrets are never
// shown: a literal one can only be reported as "will be sent".
func diff(have api.DatasourceView, want map[string]any) []string {
	wd, err := normalized(want)
	if err != nil {
		return []string{"(the file does not decode as a datasource: " + err.Error() + ")"}
	}
	var out []string
	if have.URL != wd.URL {
		out = append(out, fmt.Sprintf("url: %q → %q", have.URL, wd.URL))
	}
	// Compared as the API's JSON fields, which the lines name.
	haveAuth, wantAuth := fields(have.Auth.OAuth2), fields(wd.Auth)
	for _, f := range datasource.SecretFields {
		delete(wantAuth, strings.TrimPrefix(f, "auth."))
	}
	keys := make([]string, 0, len(wantAuth))
	for k := range wantAuth {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !reflect.DeepEqual(haveAuth[k], wantAuth[k]) {
			out = append(out, fmt.Sprintf("auth.%s: %s → %s", k, show(haveAuth[k]), show(wantAuth[k])))
		}
	}
	if a, ok := want["auth"].(map[string]any); ok {
		for _, f := range datasource.SecretFields {
			name := strings.TrimPrefix(f, "auth.")
			if s, ok := a[name].(string); ok && s != "" {
				ref := wd.SecretField(f).Ref()
				haveRef := viewRef(have.Auth, f)
				switch {
				case ref != "" && ref != haveRef:
					out = append(out, fmt.Sprintf("%s: reference %s → %s", f, orNone(haveRef), ref))
				case ref == "":
					out = append(out, f+": a write-only value will be sent (cannot be compared; unchanged if equal)")
				}
			}
		}
	}
	return out
}

// viewRef is the reference a view shows for write-only field f, "" when
// it holds a value or nothing.
func viewRef(a api.AuthView, f string) string {
	switch f {
	case "auth.clientSecret":
		return a.ClientSecretRef
	case "auth.privateKey":
		return a.PrivateKeyRef
	case "auth.serviceAccountJson":
		return a.ServiceAccountJSONRef
	case "auth.upstreamPrivateKey":
		return a.UpstreamPrivateKeyRef
	case "auth.apiKey":
		return a.APIKeyRef
	case "auth.password":
		return a.PasswordRef
	case "auth.token":
		return a.TokenRef
	case "auth.accessKeyId":
		return a.AccessKeyIDRef
	case "auth.secretAccessKey":
		return a.SecretAccessKeyRef
	case "auth.sessionToken":
		return a.SessionTokenRef
	}
	return ""
}

// fields is v's JSON object as a map.
func fields(v any) map[string]any {
	b, _ := json.Marshal(v)
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}

func describe(want map[string]any) []string {
	wd, err := normalized(want)
	if err != nil {
		return []string{"(does not decode: " + err.Error() + ")"}
	}
	l := []string{fmt.Sprintf("url: %s", wd.URL), fmt.Sprintf("grant: %s", wd.Auth.GrantType), fmt.Sprintf("token URL: %s", wd.Auth.AccessTokenURL)}
	if t := wd.Auth.Kind(); t.Static() {
		l = []string{fmt.Sprintf("url: %s", wd.URL), fmt.Sprintf("auth: %s", t)}
	}
	if ref := wd.Auth.ClientSecret.Ref(); ref != "" {
		l = append(l, "client secret: reference "+ref)
	} else if !wd.Auth.ClientSecret.IsZero() {
		l = append(l, "client secret: a write-only value")
	}
	return l
}

func show(v any) string {
	if v == nil {
		return "(none)"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func orNone(s string) string {
	if s == "" {
		return "(a value)"
	}
	return s
}

const exportHelp = `Usage: grantd export [-o yaml|json] > datasources.yaml

Writes every datasource as an apply file (YAML by default). Secret
references (${env:…}, ${file:…}) are kept; literal client secrets are left
out, so applying the export to the same grantd keeps the stored ones.
`

// exported is a datasource as export writes it: an entry of an apply file.
type exported struct {
	Name string       `json:"name"`
	URL  string       `json:"url"`
	Auth exportedAuth `json:"auth"`
}

type exportedAuth struct {
	datasource.OAuth2 // its ClientSecret is empty in a view, so left out
	// ClientSecret is the reference when the secret is one (${env:…},
	// ${file:…}); a literal secret is never shown, so left out. The same
	// for the other write-only fields.
	ClientSecret       string `json:"clientSecret,omitempty"`
	PrivateKey         string `json:"privateKey,omitempty"`
	ServiceAccountJSON string `json:"serviceAccountJson,omitempty"`
	UpstreamPrivateKey string `json:"upstreamPrivateKey,omitempty"`
	APIKey             string `json:"apiKey,omitempty"`
	Password           string `json:"password,omitempty"`
	Token              string `json:"token,omitempty"`
	AccessKeyID        string `json:"accessKeyId,omitempty"`
	SecretAccessKey    string `json:"secretAccessKey,omitempty"`
	SessionToken       string `json:"sessionToken,omitempty"`
}

// exportCmd writes every datasource as an apply file, without secrets:
// references (${env:…}) are kept, literal secrets left out (applying the
// export to the same grantd keeps the stored ones).
func exportCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	r, rest, err := parseClient("export", exportHelp, args, stdout, nil)
	if err != nil {
		return err
	}
	if err := want("export", "", rest, 0); err != nil {
		return err
	}
	c, err := r.connect()
	if err != nil {
		return err
	}
	list, err := c.List(ctx)
	if err != nil {
		return r.fail(err)
	}
	out := make([]exported, 0, len(list))
	for _, d := range list {
		out = append(out, exported{Name: d.Name, URL: d.URL, Auth: exportedAuth{OAuth2: d.Auth.OAuth2, ClientSecret: d.Auth.ClientSecretRef,
			PrivateKey: d.Auth.PrivateKeyRef, ServiceAccountJSON: d.Auth.ServiceAccountJSONRef, UpstreamPrivateKey: d.Auth.UpstreamPrivateKeyRef,
			APIKey: d.Auth.APIKeyRef, Password: d.Auth.PasswordRef, Token: d.Auth.TokenRef,
			AccessKeyID: d.Auth.AccessKeyIDRef, SecretAccessKey: d.Auth.SecretAccessKeyRef, SessionToken: d.Auth.SessionTokenRef}})
	}
	format := r.output
	if format == "table" {
		format = "yaml"
	}
	if format == "yaml" {
		fmt.Fprintln(stdout, "# grantd export: literal client secrets are not included; references are.")
	}
	return emit(stdout, format, map[string]any{"datasources": out})
}
