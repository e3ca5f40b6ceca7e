package provider

import (
	"fmt"
	"strings"

	"github.com/grantd/grantd/datasource"
)

// tokenPrefix marks a placeholder filled from a kept field of the token
// answer ({token.instance_url}) rather than from connectionConfig.
const tokenPrefix = "token."

func isTokenPlaceholder(name string) bool { return strings.HasPrefix(name, tokenPrefix) }

// placeholders returns the names between braces in a URL template, in
// order, duplicates kept. The grammar is package datasource's (see
// datasource.ParseTemplate), so an entry holds only templates a
// datasource accepts.
func placeholders(tmpl string) ([]string, error) {
	ps, err := datasource.ParseTemplate(tmpl)
	if err != nil {
		return nil, fmt.Errorf("provider: %q: %v", tmpl, err)
	}
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.Name)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// validPlaceholder reports whether name can stand between braces.
func validPlaceholder(name string) bool {
	_, err := datasource.ParseTemplate("https://{" + name + "}.example.com")
	return err == nil
}
