package datasource

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// TokenResponse maps a token answer that does not keep its fields where
// RFC 6749 §5.1 puts them (Slack nests a user's token under authed_user),
// and names fields of the answer to keep with the token (Salesforce's
// instance_url, the host of the org's API).
//
// The paths are JSON Pointers (RFC 6901) into the answer; empty means the
// standard top-level field. A path that finds nothing in an answer falls
// back to the standard field: a refresh answer is often flat where the
// first answer nests (Slack's is). expires_in may be a number or a
// numeric string wherever it is.
type TokenResponse struct {
	AccessTokenPath  string `json:"accessTokenPath,omitempty"`
	RefreshTokenPath string `json:"refreshTokenPath,omitempty"`
	ExpiresInPath    string `json:"expiresInPath,omitempty"`
	// Keep names top-level fields of the token answer to store with the
	// token: strings, numbers or booleans (objects, arrays and null are
	// not kept). A refresh answer without one keeps the value from before;
	// a new authorization replaces them all. They are not secrets — a
	// field that holds a credential cannot be kept — and fill {token.x}
	// placeholders in url.
	Keep []string `json:"keep,omitempty"`
}

// IsZero reports whether t maps nothing and keeps nothing.
func (t TokenResponse) IsZero() bool {
	return t.AccessTokenPath == "" && t.RefreshTokenPath == "" && t.ExpiresInPath == "" && len(t.Keep) == 0
}

// Remaps reports whether t moves one of the standard fields.
func (t TokenResponse) Remaps() bool {
	return t.AccessTokenPath != "" || t.RefreshTokenPath != "" || t.ExpiresInPath != ""
}

func (t *TokenResponse) normalize() {
	t.AccessTokenPath = strings.TrimSpace(t.AccessTokenPath)
	t.RefreshTokenPath = strings.TrimSpace(t.RefreshTokenPath)
	t.ExpiresInPath = strings.TrimSpace(t.ExpiresInPath)
	if len(t.Keep) == 0 {
		t.Keep = nil // as the store reads it back
		return
	}
	keep := make([]string, 0, len(t.Keep))
	for _, k := range t.Keep {
		if k = strings.TrimSpace(k); !slices.Contains(keep, k) {
			keep = append(keep, k)
		}
	}
	t.Keep = keep
}

func (t TokenResponse) samePaths(u TokenResponse) bool {
	return t.AccessTokenPath == u.AccessTokenPath && t.RefreshTokenPath == u.RefreshTokenPath && t.ExpiresInPath == u.ExpiresInPath
}

// MaxKeep bounds how many token-answer fields a datasource keeps, and
// MaxKeptLen the length of each kept value.
const (
	MaxKeep    = 20
	MaxKeptLen = 2048
)

func (t TokenResponse) validate(v *ValidationError) {
	for _, p := range []struct{ field, ptr string }{
		{"auth.tokenResponse.accessTokenPath", t.AccessTokenPath},
		{"auth.tokenResponse.refreshTokenPath", t.RefreshTokenPath},
		{"auth.tokenResponse.expiresInPath", t.ExpiresInPath},
	} {
		if p.ptr == "" {
			continue
		}
		if _, err := ParsePointer(p.ptr); err != nil {
			v.add(p.field, "%v", err)
		}
	}
	if len(t.Keep) > MaxKeep {
		v.add("auth.tokenResponse.keep", "must name at most %d fields", MaxKeep)
		return
	}
	holders := map[string]bool{}
	for _, p := range []string{t.AccessTokenPath, t.RefreshTokenPath} {
		if toks, err := ParsePointer(p); err == nil && len(toks) > 0 {
			holders[toks[0]] = true
		}
	}
	for _, k := range t.Keep {
		switch {
		case !validPlaceholderName(k):
			v.add("auth.tokenResponse.keep", "%q must be a top-level field name: a letter, then letters, digits or _ (at most 64)", truncate(k, 40))
		case credentialField(k) || holders[k]:
			v.add("auth.tokenResponse.keep", "%q holds a credential and cannot be kept: kept fields are stored in the clear (authenticated, not sealed) and shown in views", k)
		}
	}
}

// credentialField reports whether a token-answer field named n holds a
// credential: the tokens themselves, or anything named like a token, a
// secret or a password.
func credentialField(n string) bool {
	n = strings.ToLower(n)
	return strings.HasSuffix(n, "token") || strings.Contains(n, "secret") || strings.Contains(n, "password") ||
		n == "assertion" || n == "code"
}

// ParsePointer splits a JSON Pointer (RFC 6901 §3) into its reference
// tokens, unescaped (~1 is "/", ~0 is "~"). "" is the whole document and
// has none. A pointer that does not start with "/", or holds a "~" not
// followed by 0 or 1, is an error.
func ParsePointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if len(p) > 256 {
		return nil, fmt.Errorf("must be at most 256 bytes")
	}
	if p[0] != '/' {
		return nil, fmt.Errorf("must be a JSON Pointer (RFC 6901) starting with \"/\", e.g. /authed_user/access_token")
	}
	parts := strings.Split(p[1:], "/")
	for i, s := range parts {
		for j := 0; j < len(s); j++ {
			if s[j] == '~' && (j+1 == len(s) || s[j+1] != '0' && s[j+1] != '1') {
				return nil, fmt.Errorf("has a \"~\" not followed by 0 or 1 (RFC 6901 escapes \"~\" as ~0 and \"/\" as ~1)")
			}
		}
		if hasControl(s) {
			return nil, fmt.Errorf("must not contain control characters")
		}
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
	}
	return parts, nil
}

// Resolve returns the value the reference tokens (see ParsePointer) point
// to in doc, a JSON value as encoding/json decodes it into an any
// (map[string]any, []any, string, float64 or json.Number, bool, nil).
// ok is false when there is none.
func Resolve(doc any, tokens []string) (v any, ok bool) {
	v = doc
	for _, t := range tokens {
		switch x := v.(type) {
		case map[string]any:
			if v, ok = x[t]; !ok {
				return nil, false
			}
		case []any:
			// RFC 6901 §4: a decimal index without leading zeros.
			if t == "" || len(t) > 1 && t[0] == '0' {
				return nil, false
			}
			i, err := strconv.Atoi(t)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}
