package provider

import (
	"fmt"
	"strings"
)

// tokenPrefix marks a placeholder filled from a kept field of the token
// answer ({token.instance_url}) rather than from connectionConfig.
const tokenPrefix = "token."

func isTokenPlaceholder(name string) bool { return strings.HasPrefix(name, tokenPrefix) }

// placeholders returns the names between braces in a URL template, in
// order, duplicates kept. It fails on an unclosed or stray brace, a nested
// brace, or a name that is not a letter followed by letters, digits or
// underscores (after an optional "token." prefix).
func placeholders(tmpl string) ([]string, error) {
	var out []string
	for i := 0; i < len(tmpl); i++ {
		switch tmpl[i] {
		case '}':
			return out, fmt.Errorf("provider: %q: stray '}' at %d", tmpl, i)
		case '{':
			end := strings.IndexAny(tmpl[i+1:], "{}")
			if end < 0 || tmpl[i+1+end] != '}' {
				return out, fmt.Errorf("provider: %q: unclosed '{' at %d", tmpl, i)
			}
			name := tmpl[i+1 : i+1+end]
			if !validPlaceholder(name) {
				return out, fmt.Errorf("provider: %q: bad placeholder name %q", tmpl, name)
			}
			out = append(out, name)
			i += end + 1
		}
	}
	return out, nil
}

func validPlaceholder(name string) bool {
	name = strings.TrimPrefix(name, tokenPrefix)
	if name == "" || !isLetter(name[0]) {
		return false
	}
	for i := 1; i < len(name); i++ {
		if c := name[i]; !isLetter(c) && !('0' <= c && c <= '9') && c != '_' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
