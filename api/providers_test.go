package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/grantd/grantd/grants/grantstest"
)

// TestProviderInputRefused: an unknown provider, a template naming a
// value nobody gives, and a value that would change a host are each a
// 400 problem+json naming the field; a known provider fills the rest.
func TestProviderInputRefused(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	p := grantstest.NewProvider(t, grantstest.ProviderOptions{})
	for _, tc := range []struct {
		name  string
		edit  func(b map[string]any)
		field string
		says  string
	}{
		{"unknown provider", func(b map[string]any) { b["provider"] = "salesforse" }, "provider", "salesforce"},
		{"missing value", func(b map[string]any) { b["url"] = "https://{subdomain}.zendesk.com/api/v2" }, "connectionConfig.subdomain", ""},
		{"host-changing value", func(b map[string]any) {
			b["url"] = "https://{subdomain}.zendesk.com/api/v2"
			b["connectionConfig"] = map[string]string{"subdomain": "evil.com/x?"}
		}, "connectionConfig.subdomain", ""},
		{"port smuggled", func(b map[string]any) {
			b["provider"] = "zendesk"
			b["url"] = ""
			b["auth"].(map[string]any)["accessTokenUrl"] = ""
			b["auth"].(map[string]any)["grantType"] = ""
			b["connectionConfig"] = map[string]string{"subdomain": "acme.zendesk.com:8443"}
		}, "connectionConfig.subdomain", ""},
	} {
		b := ccBody(p, "bad-"+strings.ReplaceAll(tc.name, " ", "-"), "svc-secret-1a2b3c")
		tc.edit(b)
		code, body, hdr := h.do("POST", "/api/v1/datasources", b)
		var prob struct {
			Errors []struct{ Field, Message string } `json:"errors"`
		}
		json.Unmarshal(body, &prob)
		found := false
		for _, e := range prob.Errors {
			if e.Field == tc.field && strings.Contains(e.Message, tc.says) {
				found = true
			}
		}
		if code != 400 || hdr.Get("Content-Type") != "application/problem+json" || !found {
			t.Errorf("%s: %d %s, want a 400 problem naming %s", tc.name, code, body, tc.field)
		}
	}

	// A known provider fills what is left empty; explicit fields win.
	b := map[string]any{"name": "Support", "provider": "Zendesk", "connectionConfig": map[string]string{"subdomain": "acme"},
		"auth": map[string]any{"clientId": "zd", "clientSecret": "zd-secret-4d5e6f", "scope": "read"}}
	code, body, _ := h.do("POST", "/api/v1/datasources", b)
	var d struct {
		Provider string `json:"provider"`
		URL      string `json:"url"`
		Auth     struct {
			AccessTokenURL string `json:"accessTokenUrl"`
			Scope          string `json:"scope"`
		} `json:"auth"`
	}
	json.Unmarshal(body, &d)
	if code != 201 || d.Provider != "zendesk" || d.URL != "https://{subdomain}.zendesk.com/api/v2" ||
		d.Auth.AccessTokenURL != "https://{subdomain}.zendesk.com/oauth/tokens" || d.Auth.Scope != "read" {
		t.Errorf("filled datasource: %d %s", code, body)
	}

	code, body, _ = h.do("GET", "/api/v1/providers", nil)
	var list struct {
		Providers []struct{ Name, Docs string } `json:"providers"`
	}
	if json.Unmarshal(body, &list); code != 200 || len(list.Providers) < 20 {
		t.Fatalf("providers: %d %s", code, body)
	}
	for _, p := range list.Providers {
		if !strings.HasPrefix(p.Docs, "https://") {
			t.Errorf("%s cites no documentation", p.Name)
		}
	}
}

// TestProxyToKeptHost: a url of {token.instance_url} sends proxied calls
// to the host the token answer named (Salesforce's org), kept with the
// token and shown in the authorization; an answer that names none leaves
// the call unanswerable with a 424 naming the placeholder, not a guess.
func TestProxyToKeptHost(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	var instance string
	omit := false
	p := grantstest.NewProvider(t, grantstest.ProviderOptions{TokenHandler: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			var doc map[string]any
			if json.Unmarshal(rec.Body.Bytes(), &doc) == nil && rec.Code == 200 && !omit {
				doc["instance_url"] = instance
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(rec.Code)
			json.NewEncoder(w).Encode(doc)
		})
	}})
	instance = p.URL
	p.AddClient(grantstest.Client{ID: "svc", Secret: "svc-secret-1a2b3c", Scopes: []string{"api/read"}})
	body := func(name string) map[string]any {
		return map[string]any{"name": name, "url": "http://{token.instance_url}/api",
			"auth": map[string]any{"grantType": "client_credentials", "accessTokenUrl": p.TokenURL(), "clientId": "svc",
				"clientSecret": "svc-secret-1a2b3c", "scope": "api/read", "tokenResponse": map[string]any{"keep": []string{"instance_url"}}}}
	}
	d := h.create(body("Org"))
	code, b, _ := h.do("GET", "/api/v1/datasources/"+d.ID+"/proxy/whoami", nil)
	var a grantstest.APIAnswer
	if json.Unmarshal(b, &a); code != 200 || a.Path != "/api/whoami" || a.ClientID != "svc" {
		t.Fatalf("proxied call: %d %s", code, b)
	}
	code, b, _ = h.do("GET", "/api/v1/datasources/"+d.ID, nil)
	if code != 200 || !strings.Contains(string(b), `"kept":{"instance_url":"`+p.URL+`"}`) {
		t.Errorf("the view does not show the kept field: %s", b)
	}

	omit = true
	d2 := h.create(body("No instance"))
	code, b, hdr := h.do("GET", "/api/v1/datasources/"+d2.ID+"/proxy/whoami", nil)
	if code != 424 || hdr.Get("Content-Type") != "application/problem+json" || !strings.Contains(string(b), "token.instance_url") {
		t.Errorf("no instance_url: %d %s", code, b)
	}
}
