package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/grants/grantstest"
)

func TestCRUDRoundTripKeepsTheSecret(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	p := newProvider(t, h, grantstest.ProviderOptions{})
	d := h.create(ccBody(p, "Vectara", "svc-secret-9f8e7d"))

	// GET, edit, PUT back: the read-only fields ride along and are ignored;
	// the secret, absent from the GET, is kept.
	code, b, _ := h.do("GET", "/api/v1/datasources/"+d.ID, nil)
	if code != 200 || strings.Contains(string(b), "svc-secret") {
		t.Fatalf("get: %d %s", code, b)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	m["name"] = "Vectara (prod)"
	m["auth"].(map[string]any)["headerPrefix"] = "Token"
	code, b, _ = h.do("PUT", "/api/v1/datasources/"+d.ID, m)
	if code != 200 {
		t.Fatalf("put: %d %s", code, b)
	}
	got := decode[dsView](t, b)
	if got.Name != "Vectara (prod)" || got.Auth["headerPrefix"] != "Token" || got.Auth["clientSecretSet"] != true || got.Authorization.Status != "authorized" {
		t.Fatalf("after put: %+v", got)
	}
	stored, _ := h.store.Datasource(ctx, d.ID)
	if stored.Auth.ClientSecret.Reveal() != "svc-secret-9f8e7d" {
		t.Fatal("PUT without clientSecret lost the secret")
	}
	// The placement change applies to proxied calls at once.
	code, b, _ = h.do("GET", "/api/v1/datasources/"+d.ID+"/proxy/x", nil)
	if code != 401 || !strings.Contains(string(b), "no access token") {
		t.Fatalf("proxy with prefix Token: %d %s (the test API only reads Bearer)", code, b)
	}

	// A wrong secret makes the datasource fail at once, with the reason.
	m["auth"].(map[string]any)["clientSecret"] = "wrong-secret-value-xyz"
	h.addSecret("wrong-secret-value-xyz")
	code, b, _ = h.do("PUT", "/api/v1/datasources/"+d.ID, m)
	got = decode[dsView](t, b)
	if code != 200 || got.Authorization.Status != "error" || !strings.Contains(got.Authorization.LastError, "invalid_client") {
		t.Fatalf("wrong secret: %d %+v", code, got.Authorization)
	}
	code, b, _ = h.do("GET", "/api/v1/datasources/"+d.ID+"/proxy/x", nil)
	if code != 424 {
		t.Fatalf("proxy with a rejected client: %d %s", code, b)
	}

	// Delete: 204, then 404; the name is free again.
	code, _, _ = h.do("DELETE", "/api/v1/datasources/"+d.ID, nil)
	if code != 204 {
		t.Fatalf("delete: %d", code)
	}
	if code, _, _ = h.do("GET", "/api/v1/datasources/"+d.ID, nil); code != 404 {
		t.Fatalf("get after delete: %d", code)
	}
	h.create(ccBody(p, "Vectara (prod)", "svc-secret-9f8e7d"))
}

func TestDeleteRevokesAtTheProvider(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	p := newProvider(t, h, grantstest.ProviderOptions{})
	d := h.create(acBody(p, "ac", "web-secret-1a2b3c"))
	authorizeViaAPI(t, h, d.ID)
	rec, err := h.store.TokenRecord(ctx, datasource.SharedKey(d.ID))
	if err != nil || !p.RefreshTokenActive(rec.RefreshToken.Reveal()) {
		t.Fatal("not authorized")
	}
	if code, _, _ := h.do("DELETE", "/api/v1/datasources/"+d.ID, nil); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	if p.RefreshTokenActive(rec.RefreshToken.Reveal()) {
		t.Error("refresh token still active at the provider after delete")
	}
	if _, err := h.store.TokenRecord(ctx, datasource.SharedKey(d.ID)); err == nil {
		t.Error("token record left behind")
	}
}

func TestStatusRefreshRevokeToken(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	p := newProvider(t, h, grantstest.ProviderOptions{})
	body := ccBody(p, "exposed", "svc-secret-9f8e7d")
	body["auth"].(map[string]any)["exposeToken"] = true
	d := h.create(body)
	before := p.Count("client_credentials")
	code, b, _ := h.do("POST", "/api/v1/datasources/"+d.ID+"/refresh", nil)
	if code != 200 || decode[struct{ Status string }](t, b).Status != "authorized" || p.Count("client_credentials") != before+1 {
		t.Fatalf("refresh: %d %s", code, b)
	}
	code, b, hdr := h.do("POST", "/api/v1/datasources/"+d.ID+"/token", nil)
	tok := decode[struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
	}](t, b)
	if code != 200 || tok.AccessToken == "" || tok.ExpiresIn < 3000 || tok.ExpiresIn > 3600 || hdr.Get("Cache-Control") != "no-store" {
		t.Fatalf("token: %d %s", code, b)
	}
	h.addLogSecret(tok.AccessToken)
	code, b, _ = h.do("POST", "/api/v1/datasources/"+d.ID+"/revoke", nil)
	rv := decode[struct {
		Status            string
		RevokedAtProvider bool
	}](t, b)
	if code != 200 || rv.Status != "unauthorized" || !rv.RevokedAtProvider {
		t.Fatalf("revoke: %d %s", code, b)
	}
	code, b, _ = h.do("GET", "/api/v1/datasources/"+d.ID+"/status", nil)
	if code != 200 || decode[struct{ Status string }](t, b).Status != "unauthorized" {
		t.Fatalf("status after revoke: %d %s", code, b)
	}
}

// authorizeViaAPI runs an API-started flow to the end.
func authorizeViaAPI(t *testing.T, h *harness, id string) {
	t.Helper()
	_, b, _ := h.do("POST", "/api/v1/datasources/"+id+"/authorize", nil)
	authorize := decode[struct{ AuthorizeURL string }](t, b).AuthorizeURL
	br := browser()
	resp, err := br.PostForm(authorize, map[string][]string{"username": {grantstest.Username}, "password": {grantstest.Password}, "consent": {"allow"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cb := resp.Header.Get("Location")
	h.addSecret(mustURL(cb).Query().Get("code"))
	h.addLogSecret(mustURL(cb).Query().Get("state"))
	resp, err = br.Get(cb)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 302 || mustURL(resp.Header.Get("Location")).Query().Get("result") != "authorized" {
		t.Fatalf("callback: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// headerPrefix: omitted means Bearer, "" the raw token (X-Api-Key: <token>);
// the choice survives the store and reaches the upstream.
func TestRawTokenWithoutPrefix(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	p := newProvider(t, h, grantstest.ProviderOptions{})
	up := newUpstream(t)
	seen := make(chan string, 1)
	up.set(func(w http.ResponseWriter, r *http.Request) { seen <- r.Header.Get("X-Api-Key") })
	body := ccBody(p, "raw", "svc-secret-9f8e7d")
	body["url"] = up.URL
	body["auth"].(map[string]any)["headerName"] = "X-Api-Key"
	body["auth"].(map[string]any)["headerPrefix"] = ""
	d := h.create(body)
	if d.Auth["headerPrefix"] != "" {
		t.Fatalf("created with headerPrefix %v, want \"\"", d.Auth["headerPrefix"])
	}
	if code, b, _ := h.do("GET", "/api/v1/datasources/"+d.ID+"/proxy/x", nil); code != 200 {
		t.Fatalf("proxy: %d %s", code, b)
	}
	rec, err := h.store.TokenRecord(ctx, datasource.SharedKey(d.ID))
	if got := <-seen; err != nil || got != rec.AccessToken.Reveal() {
		t.Fatalf("upstream got X-Api-Key %q, want the raw token", got)
	}
	stored, _ := h.store.Datasource(ctx, d.ID)
	if stored.Auth.Prefix() != "" {
		t.Fatalf("stored prefix %q", stored.Auth.Prefix())
	}
	// Omitted: Bearer.
	delete(body["auth"].(map[string]any), "headerPrefix")
	body["name"] = "bearer"
	if d := h.create(body); d.Auth["headerPrefix"] != "Bearer" {
		t.Fatalf("omitted headerPrefix became %v", d.Auth["headerPrefix"])
	}
}
