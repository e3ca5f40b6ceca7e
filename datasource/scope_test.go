package datasource

import (
	"slices"
	"strings"
	"testing"
)

func TestParseScope(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"   ", nil},
		{",,,", nil},
		{"api/write", []string{"api/write"}},
		{"api/read, api/write", []string{"api/read", "api/write"}},
		{"api/read,api/write", []string{"api/read", "api/write"}},
		{"openid profile email", []string{"openid", "profile", "email"}},
		{" openid ,profile\temail\n", []string{"openid", "profile", "email"}},
		{"a, b, a , b,c", []string{"a", "b", "c"}},
		{"https://www.googleapis.com/auth/drive.readonly, offline_access", []string{"https://www.googleapis.com/auth/drive.readonly", "offline_access"}},
		{"A a", []string{"A", "a"}}, // scopes are case-sensitive (§3.3)
	}
	for _, tt := range tests {
		got := ParseScope(tt.in)
		if !slices.Equal(got, tt.want) {
			t.Errorf("ParseScope(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestJoinScope(t *testing.T) {
	if got, want := JoinScope(ParseScope("api/read, api/write,api/read")), "api/read api/write"; got != want {
		t.Errorf("JoinScope = %q, want %q", got, want)
	}
	if got := JoinScope(nil); got != "" {
		t.Errorf("JoinScope(nil) = %q, want empty", got)
	}
}

// FuzzParseScope checks the invariants of scope parsing: no empty tokens,
// no separators inside a token, no duplicates, and parsing the joined
// form gives the same list.
func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"", "a,b", " a , b ", "a a", "api/read, api/write", "\t,\n", "x,y z,,x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := ParseScope(s)
		seen := map[string]bool{}
		for _, tok := range got {
			if tok == "" {
				t.Fatalf("empty token in %q", got)
			}
			if strings.ContainsAny(tok, ", \t\n\r\f\v") {
				t.Fatalf("token %q holds a separator", tok)
			}
			if seen[tok] {
				t.Fatalf("duplicate %q in %q", tok, got)
			}
			seen[tok] = true
		}
		if again := ParseScope(JoinScope(got)); !slices.Equal(again, got) {
			t.Fatalf("round trip: %q -> %q", got, again)
		}
	})
}
