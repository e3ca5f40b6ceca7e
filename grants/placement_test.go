package grants_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/grants"
)

func TestSetQueryParam(t *testing.T) {
	for _, tt := range []struct{ in, name, value, want string }{
		{"", "access_token", "t", "access_token=t"},
		{"a=1&b=2", "access_token", "t", "a=1&b=2&access_token=t"},
		{"access_token=old&a=1&access_token=x", "access_token", "t", "a=1&access_token=t"},
		{"a=%20b&access%5Ftoken=old", "access_token", "t+/=", "a=%20b&access_token=t%2B%2F%3D"},
		{"key=1", "api key", "v", "key=1&api+key=v"},
	} {
		if got := grants.SetQueryParam(tt.in, tt.name, tt.value); got != tt.want {
			t.Errorf("SetQueryParam(%q, %q, %q) = %q, want %q", tt.in, tt.name, tt.value, got, tt.want)
		}
	}
}

func TestPlacementThroughClient(t *testing.T) {
	te := newTokenEndpoint(t)
	te.set(jsonAnswer(200, `{"access_token":"tok-123","token_type":"Bearer","expires_in":3600}`))
	var mu sync.Mutex
	var got *http.Request
	te.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/token") {
			r.ParseForm()
			jsonAnswer(200, `{"access_token":"tok-123","token_type":"Bearer","expires_in":3600}`)(w, r)
			return
		}
		mu.Lock()
		got = r.Clone(r.Context())
		mu.Unlock()
		w.WriteHeader(200)
	})
	for _, tt := range []struct {
		name   string
		mutate func(a *datasource.OAuth2)
		check  func(r *http.Request) bool
	}{
		{"default header", func(a *datasource.OAuth2) {}, func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer tok-123" }},
		{"custom prefix", func(a *datasource.OAuth2) { a.HeaderPrefix = datasource.Ptr("Token") }, func(r *http.Request) bool { return r.Header.Get("Authorization") == "Token tok-123" }},
		{"raw token, no prefix", func(a *datasource.OAuth2) { a.HeaderName = "X-Api-Key"; a.HeaderPrefix = datasource.Ptr("") }, func(r *http.Request) bool {
			return r.Header.Get("X-Api-Key") == "tok-123" && r.Header.Get("Authorization") == ""
		}},
		{"custom header", func(a *datasource.OAuth2) { a.HeaderName = "x-api-token" }, func(r *http.Request) bool {
			return r.Header.Get("X-Api-Token") == "Bearer tok-123" && r.Header.Get("Authorization") == ""
		}},
		{"query", func(a *datasource.OAuth2) { a.TokenPlacement = datasource.PlacementQuery }, func(r *http.Request) bool {
			return r.URL.RawQuery == "q=1&access_token=tok-123" && r.Header.Get("Authorization") == ""
		}},
		{"query custom name", func(a *datasource.OAuth2) { a.TokenPlacement = datasource.PlacementQuery; a.QueryParamName = "key" }, func(r *http.Request) bool {
			return r.URL.RawQuery == "q=1&key=tok-123"
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, fixtureOptions{})
			d := te.datasource()
			tt.mutate(&d.Auth)
			d = f.create(d)
			hc, err := f.engine.Client(ctx, datasource.SharedKey(d.ID))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := hc.Get(te.URL + "/api/items?q=1")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			mu.Lock()
			defer mu.Unlock()
			if !tt.check(got) {
				t.Errorf("upstream got query %q headers %v", got.URL.RawQuery, got.Header)
			}
			// Apply does the same on a request of the caller's.
			req, _ := http.NewRequest("GET", te.URL+"/api/items?q=1", nil)
			if err := f.engine.Apply(ctx, datasource.SharedKey(d.ID), req); err != nil {
				t.Fatal(err)
			}
			if !tt.check(req) {
				t.Errorf("Apply: query %q headers %v", req.URL.RawQuery, req.Header)
			}
			tok, _ := f.engine.Token(ctx, datasource.SharedKey(d.ID))
			for _, s := range []string{tok.String(), strings.ReplaceAll(strings.ToLower(tok.GoString()), " ", "")} {
				if strings.Contains(s, "tok-123") {
					t.Errorf("AccessToken prints its value: %s", s)
				}
			}
		})
	}
}

// TestClientRetriesOnce401: the upstream refuses the token once; the client
// refreshes once and retries; a 401 loop still ends after one retry.
func TestClientRetriesOnce401(t *testing.T) {
	te := newTokenEndpoint(t)
	var mu sync.Mutex
	n := 0
	var upstream, tokens int
	refuse := 1
	te.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if strings.HasSuffix(r.URL.Path, "/token") {
			tokens++
			n++
			jsonAnswer(200, `{"access_token":"tok-`+string(rune('a'+n))+`","token_type":"Bearer","expires_in":3600}`)(w, r)
			return
		}
		upstream++
		if refuse > 0 {
			refuse--
			w.WriteHeader(401)
			return
		}
		w.WriteHeader(200)
	})
	f := newFixture(t, fixtureOptions{})
	d := f.create(te.datasource())
	hc, _ := f.engine.Client(ctx, datasource.SharedKey(d.ID))
	f.clock.Advance(grants.MinAgeForForcedRefresh) // a refusal of a token this young passes through
	resp, err := hc.Post(te.URL+"/api/x", "text/plain", strings.NewReader("body"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mu.Lock()
	if resp.StatusCode != 200 || upstream != 2 || tokens != 2 {
		t.Fatalf("status %d after %d upstream calls and %d token requests; want 200, 2, 2", resp.StatusCode, upstream, tokens)
	}
	refuse, upstream, tokens = 1000, 0, 0
	mu.Unlock()
	f.clock.Advance(grants.MinAgeForForcedRefresh)
	resp, err = hc.Get(te.URL + "/api/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	if resp.StatusCode != 401 || upstream != 2 || tokens != 1 {
		t.Fatalf("401 loop: status %d, %d upstream calls, %d token requests; want 401, 2, 1", resp.StatusCode, upstream, tokens)
	}
}
