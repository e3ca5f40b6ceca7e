package provider

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestLookupIgnoresCase(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"salesforce", "salesforce"},
		{"Salesforce", "salesforce"},
		{"SALESFORCE", "salesforce"},
		{"  Slack-User ", "slack-user"},
		{"Entra", "microsoft"},
		{"AZURE-AD", "microsoft"},
		{"Intuit", "quickbooks"},
		{"aws-cognito", "cognito"},
	} {
		e, err := Lookup(tc.in)
		if err != nil {
			t.Errorf("Lookup(%q): %v", tc.in, err)
			continue
		}
		if e.Name != tc.want {
			t.Errorf("Lookup(%q).Name = %q, want %q", tc.in, e.Name, tc.want)
		}
	}
}

func TestLookupSuggests(t *testing.T) {
	for _, tc := range []struct {
		in    string
		first string // best suggestion; "" for none
	}{
		{"salesforse", "salesforce"},
		{"slesforce", "salesforce"},
		{"gihtub", "github"},
		{"githib", "github"},
		{"hubsopt", "hubspot"},
		{"zendsk", "zendesk"},
		{"shopfy", "shopify"},
		{"quickbook", "quickbooks"},
		{"sales", "salesforce"},
		{"drop", "dropbox"},
		{"auth", "auth0"},
		{"oktaa", "okta"},
		{"entraid", "microsoft"},
		{"vectra", "vectara"},
		{"xyzzy", ""},
		{"", ""},
		{"q", ""},
	} {
		_, err := Lookup(tc.in)
		var nf *NotFoundError
		if !errors.As(err, &nf) {
			t.Fatalf("Lookup(%q) error = %v, want *NotFoundError", tc.in, err)
		}
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("Lookup(%q): errors.Is(err, ErrNotFound) = false", tc.in)
		}
		if nf.Name != tc.in {
			t.Errorf("NotFoundError.Name = %q, want %q", nf.Name, tc.in)
		}
		if len(nf.Suggestions) > maxSuggestions {
			t.Errorf("Lookup(%q): %d suggestions, want at most %d", tc.in, len(nf.Suggestions), maxSuggestions)
		}
		var first string
		if len(nf.Suggestions) > 0 {
			first = nf.Suggestions[0]
		}
		if first != tc.first {
			t.Errorf("Lookup(%q) suggestions = %q, want %q first", tc.in, nf.Suggestions, tc.first)
		}
		if tc.first != "" && !strings.Contains(err.Error(), "did you mean "+tc.first) {
			t.Errorf("Lookup(%q) error %q does not suggest %q", tc.in, err, tc.first)
		}
	}
}

func TestLookupReturnsCopies(t *testing.T) {
	e, err := Lookup("google")
	if err != nil {
		t.Fatal(err)
	}
	e.AccessTokenURL = "https://evil.example/token"
	e.CustomAuthParams["prompt"] = "none"
	e.DefaultScopes[0] = "changed"
	e.GrantTypes[0] = "changed"
	e.Notes[0] = "changed"

	again, _ := Lookup("google")
	if again.AccessTokenURL != "https://oauth2.googleapis.com/token" ||
		again.CustomAuthParams["prompt"] != "consent" ||
		again.DefaultScopes[0] == "changed" || again.GrantTypes[0] == "changed" || again.Notes[0] == "changed" {
		t.Errorf("changing a looked-up entry changed the catalogue: %+v", again)
	}

	s, _ := Lookup("shopify")
	*s.HeaderPrefix = "Bearer"
	s.ConnectionConfig[0].Example = "changed"
	again, _ = Lookup("shopify")
	if *again.HeaderPrefix != "" || again.ConnectionConfig[0].Example == "changed" {
		t.Errorf("changing a looked-up entry's pointer or config changed the catalogue")
	}

	all := All()
	all[0].Title = "changed"
	if All()[0].Title == "changed" {
		t.Errorf("changing an entry from All changed the catalogue")
	}
}

func TestAllSortedByTitle(t *testing.T) {
	all := All()
	if !slices.IsSortedFunc(all, func(a, b *Entry) int {
		return strings.Compare(strings.ToLower(a.Title), strings.ToLower(b.Title))
	}) {
		var titles []string
		for _, e := range all {
			titles = append(titles, e.Title)
		}
		t.Errorf("All() is not sorted by Title: %q", titles)
	}
	seen := map[string]bool{}
	for _, e := range all {
		for _, k := range append([]string{e.Name}, e.Aliases...) {
			if seen[k] {
				t.Errorf("name or alias %q used twice", k)
			}
			seen[k] = true
		}
	}
}

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"okta", "okta", 0},
		{"okta", "", 4},
		{"salesforse", "salesforce", 1},
		{"hubsopt", "hubspot", 1},
		{"kitten", "sitting", 3},
	} {
		if got := distance(tc.a, tc.b); got != tc.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
