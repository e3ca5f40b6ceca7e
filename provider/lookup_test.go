package provider

import (
	"errors"
	"testing"
)

func TestLookupUnknown(t *testing.T) {
	_, err := Lookup("nothing-here")
	var nf *NotFoundError
	if !errors.As(err, &nf) || !errors.Is(err, ErrNotFound) {
		t.Fatalf("Lookup error = %v, want *NotFoundError matching ErrNotFound", err)
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
