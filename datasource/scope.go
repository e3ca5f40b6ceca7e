package datasource

import "strings"

// ParseScope splits a scope list written by a person — comma-separated, as
// Appsmith and most low-code tools show it, or space-delimited as RFC 6749
// §3.3 puts it on the wire, or a mix — into scope tokens: trimmed, empty
// entries dropped, duplicates removed, first occurrence order kept.
//
// It returns nil for a list with no scopes.
func ParseScope(s string) []string {
	var out []string
	seen := map[string]bool{}
	for _, f := range strings.FieldsFunc(s, isScopeSeparator) {
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

// JoinScope returns scopes space-delimited, the RFC 6749 §3.3 wire form.
func JoinScope(scopes []string) string { return strings.Join(scopes, " ") }

func isScopeSeparator(r rune) bool {
	switch r {
	case ',', ' ', '\t', '\n', '\r', '\f', '\v':
		return true
	}
	return false
}

// validScopeToken reports whether s is a scope-token of RFC 6749 §3.3:
// 1*( %x21 / %x23-5B / %x5D-7E ), printable ASCII without '"' and '\'.
func validScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
