package grants

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/crypto"
	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/datasource/bolt"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

const fuzzSecret = "fuzz-client-secret-4c2d"

// FuzzTokenResponse feeds arbitrary token endpoint answers (status,
// content type, body) through the real request path (x/oauth2 parsing,
// classification, expiry). It must never panic; a failure must classify
// with a reason that holds no secret; a success must give an expiry in the
// future and never "forever".
func FuzzTokenResponse(f *testing.F) {
	for _, s := range []struct {
		status int
		ct     string
		body   string
	}{
		{200, "application/json", `{"access_token":"a","token_type":"Bearer","expires_in":3600,"refresh_token":"r","scope":"x y"}`},
		{200, "application/json", `{"access_token":"a","expires_in":"120"}`},
		{200, "application/json", `{"access_token":"eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjE4MDAwMDAwMDB9.c2ln"}`},
		{200, "application/x-www-form-urlencoded", "access_token=a&expires_in=60&scope=read"},
		{200, "text/plain", "access_token=a"},
		{200, "application/json", `{"access_token":""}`},
		{200, "application/json", `{"access_token": 5}`},
		{200, "text/html", "<html>login</html>"},
		{400, "application/json", `{"error":"invalid_grant","error_description":"` + fuzzSecret + `"}`},
		{401, "", ""},
		{429, "application/json", `{"error":"slow_down"}`},
		{503, "text/plain", "down"},
		{200, "application/json", `{"access_token":"a","expires_in":-5}`},
		{200, "application/json", `{"access_token":"a","expires_in":1e30}`},
	} {
		f.Add(s.status, s.ct, []byte(s.body))
	}
	now := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	d := &datasource.Datasource{ID: "ds_fuzz", Name: "fuzz", URL: "https://api.example.com",
		Auth: datasource.OAuth2{GrantType: datasource.ClientCredentials, AccessTokenURL: "https://id.example.com/token",
			ClientID: "c", ClientSecret: datasource.NewSecret(fuzzSecret)}}
	d.Normalize()
	f.Fuzz(func(t *testing.T, status int, contentType string, body []byte) {
		if status < 100 || status > 599 {
			status = 200
		}
		hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			h := http.Header{}
			if contentType != "" {
				h.Set("Content-Type", contentType)
			}
			return &http.Response{StatusCode: status, Status: http.StatusText(status), Header: h, Body: io.NopCloser(bytes.NewReader(body)), Request: r}, nil
		})}
		call := &Call{Datasource: d, Style: datasource.ClientAuthBasic, HTTPClient: hc}
		tok, err := call.Post(context.Background(), url.Values{"grant_type": {"client_credentials"}})
		if err != nil {
			te := classify(err, now, fuzzSecret)
			if te.Kind != Transient && te.Kind != Permanent {
				t.Fatalf("unclassified: %v", err)
			}
			if te.Reason == "" || strings.Contains(te.Reason, fuzzSecret) || strings.Contains(te.Error(), fuzzSecret) {
				t.Fatalf("reason %q", te.Reason)
			}
			return
		}
		exp := expiryOf(tok, now, time.Hour)
		if !exp.After(now) {
			t.Fatalf("expiry %v is not after now", exp)
		}
		if exp.Sub(now) > maxLifetime {
			t.Fatalf("expiry %v is as good as forever", exp)
		}
		_ = grantedScope(tok, "", "requested")
	})
}

// FuzzCallback sends arbitrary callback queries to the engine: nothing
// may panic, and without a state grantd issued, nothing may be accepted.
func FuzzCallback(f *testing.F) {
	for _, s := range []string{"", "x", strings.Repeat("a", 43), "state&code=1", "\x00", strings.Repeat("s", 600)} {
		f.Add(s, "code", "", "")
	}
	f.Add("st", "", "access_denied", "The user said no")
	dir := f.TempDir()
	ks, err := crypto.NewKeyset()
	if err != nil {
		f.Fatal(err)
	}
	store, err := bolt.Open(filepath.Join(dir, "grantd.db"), ks, nil)
	if err != nil {
		f.Fatal(err)
	}
	defer store.Close()
	e := New(store, Options{RedirectURI: "https://grantd.example/api/v1/datasources/authorize"})
	defer e.Close()
	f.Fuzz(func(t *testing.T, state, code, perr, desc string) {
		res, err := e.Callback(context.Background(), CallbackRequest{State: state, Code: code, Error: perr, ErrorDescription: desc, Binding: state})
		if !errors.Is(err, ErrInvalidState) || res != nil {
			t.Fatalf("a forged callback got %+v, %v", res, err)
		}
	})
}
