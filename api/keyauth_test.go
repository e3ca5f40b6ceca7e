package api_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/grants/grantstest"
)

// keyBody is a client-credentials datasource that authenticates with
// private_key_jwt at p.
func keyBody(p *grantstest.Provider, name string, key *grantstest.KeyPair) map[string]any {
	return map[string]any{
		"name": name,
		"url":  p.URL + "/api",
		"auth": map[string]any{
			"grantType":            "client_credentials",
			"accessTokenUrl":       p.TokenURL(),
			"clientId":             "keyed",
			"clientAuthentication": "private_key_jwt",
			"privateKey":           key.KeyPEM,
			"clientCertificate":    key.CertPEM,
			"keyId":                "k1",
			"scope":                "api/read",
		},
	}
}

// keyLines are the base64 lines of a PEM: none may appear anywhere.
func keyLines(pemText string) []string {
	var out []string
	for _, l := range strings.Split(pemText, "\n") {
		if l != "" && !strings.HasPrefix(l, "-----") {
			out = append(out, l)
		}
	}
	return out
}

func (h *harness) assertNotInDB(values ...string) {
	h.t.Helper()
	db, err := os.ReadFile(h.store.Path())
	if err != nil {
		h.t.Fatal(err)
	}
	for _, v := range values {
		if v != "" && bytes.Contains(db, []byte(v)) {
			h.t.Errorf("%.16q… is in the bbolt file", v)
		}
	}
}

// TestPrivateKeyDatasourceAPI: a private_key_jwt datasource made over the
// API works against fosite; its views show the key's fingerprint and the
// certificate's expiry, never the key; a GET–edit–PUT round trip keeps
// the key, moving the token URL needs it again, null removes it.
func TestPrivateKeyDatasourceAPI(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.clock.Set(time.Now())
	p := grantstest.NewProvider(t, grantstest.ProviderOptions{})
	key := grantstest.NewKeyPair(t, grantstest.KeyOptions{})
	p.AddClient(grantstest.Client{ID: "keyed", AuthMethod: "private_key_jwt", Keys: map[string]any{"k1": key.Signer.Public()}, Scopes: []string{"api/read"}})
	h.addSecret(key.KeyPEM)
	h.addSecret(keyLines(key.KeyPEM)...)

	v := h.create(keyBody(p, "Keyed", key))
	if v.Authorization.Status != "authorized" {
		t.Fatalf("status %+v", v.Authorization)
	}
	want := datasource.PublicKeyFingerprint(key.Signer.Public())
	if v.Auth["privateKeySet"] != true || v.Auth["privateKeyFingerprint"] != want || v.Auth["clientCertificateExpiresAt"] != key.Cert.NotAfter.UTC().Format(time.RFC3339) {
		t.Errorf("view %v", v.Auth)
	}
	if _, ok := v.Auth["privateKey"]; ok {
		t.Error("the view has privateKey")
	}
	if code, b, _ := h.do("GET", "/api/v1/datasources/"+v.ID+"/proxy/me", nil); code != 200 || !strings.Contains(string(b), `"client_id":"keyed"`) {
		t.Errorf("proxy: %d %s", code, b)
	}

	// GET–edit–PUT keeps the key.
	_, b, _ := h.do("GET", "/api/v1/datasources/"+v.ID, nil)
	var full map[string]any
	json.Unmarshal(b, &full)
	full["name"] = "Keyed (renamed)"
	if code, b, _ := h.do("PUT", "/api/v1/datasources/"+v.ID, full); code != 200 || !strings.Contains(string(b), want) {
		t.Fatalf("round trip: %d %s", code, b)
	}
	// Another token URL origin needs the key again.
	full["auth"].(map[string]any)["accessTokenUrl"] = "https://elsewhere.example/token"
	code, b, _ := h.do("PUT", "/api/v1/datasources/"+v.ID, full)
	if pr := decode[problem](t, b); code != 400 || len(pr.Errors) != 1 || pr.Errors[0].Field != "auth.privateKey" {
		t.Errorf("moved token URL: %d %s", code, b)
	}
	// null removes it, which private_key_jwt cannot do without.
	full["auth"].(map[string]any)["accessTokenUrl"] = p.TokenURL()
	full["auth"].(map[string]any)["privateKey"] = nil
	code, b, _ = h.do("PUT", "/api/v1/datasources/"+v.ID, full)
	if pr := decode[problem](t, b); code != 400 || !strings.Contains(string(b), "auth.privateKey") {
		t.Errorf("key removed: %d %+v", code, pr)
	}
	h.assertNotInDB(keyLines(key.KeyPEM)...)
}

// TestKeyMaterialBadInput: a malformed PEM, a key that is not the
// certificate's, an unsupported key type and an expired certificate are
// each a 400 naming the field, and nothing is stored.
func TestKeyMaterialBadInput(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	p := grantstest.NewProvider(t, grantstest.ProviderOptions{})
	good := grantstest.NewKeyPair(t, grantstest.KeyOptions{})
	other := grantstest.NewKeyPair(t, grantstest.KeyOptions{Type: "ec"})
	ed := grantstest.NewKeyPair(t, grantstest.KeyOptions{Type: "ed25519"})
	expired := grantstest.NewKeyPair(t, grantstest.KeyOptions{NotBefore: time.Now().Add(-72 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	for _, k := range []*grantstest.KeyPair{good, other, ed, expired} {
		h.addSecret(keyLines(k.KeyPEM)...)
	}
	for _, tc := range []struct {
		name, field string
		mod         func(a map[string]any)
	}{
		{"malformed PEM", "auth.privateKey", func(a map[string]any) {
			a["privateKey"] = "-----BEGIN PRIVATE KEY-----\n" + keyLines(good.KeyPEM)[0] + "\n-----END PRIVATE KEY-----"
		}},
		{"key and certificate differ", "auth.clientCertificate", func(a map[string]any) { a["clientCertificate"] = other.CertPEM }},
		{"unsupported key type", "auth.privateKey", func(a map[string]any) { a["privateKey"], a["clientCertificate"] = ed.KeyPEM, "" }},
		{"expired certificate", "auth.clientCertificate", func(a map[string]any) {
			a["privateKey"], a["clientCertificate"], a["clientAuthentication"] = expired.KeyPEM, expired.CertPEM, "tls_client_auth"
		}},
		{"malformed service account", "auth.serviceAccountJson", func(a map[string]any) {
			a["grantType"], a["serviceAccountJson"] = "jwt_bearer", `{"type":"service_account","private_key":"nope"}`
			delete(a, "privateKey")
			delete(a, "clientCertificate")
			a["clientAuthentication"] = "auto"
		}},
		{"upstream certificate without its key", "auth.upstreamPrivateKey", func(a map[string]any) { a["upstreamClientCertificate"] = good.CertPEM }},
		{"a key of the wrong JSON type", "auth.privateKey", func(a map[string]any) { a["privateKey"] = 42 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := keyBody(p, "Bad "+tc.name, good)
			tc.mod(body["auth"].(map[string]any))
			before := h.count()
			code, b, _ := h.do("POST", "/api/v1/datasources", body)
			pr := decode[problem](t, b)
			if code != 400 || len(pr.Errors) == 0 || pr.Errors[0].Field != tc.field {
				t.Fatalf("%d %s", code, b)
			}
			if h.count() != before {
				t.Error("something was stored")
			}
		})
	}
}

// TestServiceAccountAPI: a pasted service-account file fills the fields
// the view shows; the file itself is never shown.
func TestServiceAccountAPI(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.clock.Set(time.Now())
	p := grantstest.NewProvider(t, grantstest.ProviderOptions{JWT: true})
	key := grantstest.NewKeyPair(t, grantstest.KeyOptions{})
	const email = "reader@grantd-test.iam.gserviceaccount.com"
	p.AddAssertionKey(email, email, "sa-1", key.Signer.Public(), []string{"sheets"})
	sa := key.ServiceAccountJSON(email, "sa-1", p.TokenURL())
	h.addSecret(sa)
	h.addSecret(keyLines(key.KeyPEM)...)
	v := h.create(map[string]any{"name": "Sheets", "url": p.URL + "/api", "auth": map[string]any{
		"grantType": "jwt_bearer", "serviceAccountJson": sa, "scope": "sheets"}})
	if v.Authorization.Status != "authorized" || v.Auth["clientId"] != email || v.Auth["accessTokenUrl"] != p.TokenURL() ||
		v.Auth["keyId"] != "sa-1" || v.Auth["serviceAccountJsonSet"] != true || v.Auth["privateKeySet"] != false ||
		v.Auth["privateKeyFingerprint"] != datasource.PublicKeyFingerprint(key.Signer.Public()) {
		t.Fatalf("view %+v %v", v.Authorization, v.Auth)
	}
	if code, b, _ := h.do("GET", "/api/v1/datasources/"+v.ID+"/proxy/values", nil); code != 200 || !strings.Contains(string(b), `"sub":"`+email+`"`) {
		t.Errorf("proxy: %d %s", code, b)
	}
	h.assertNotInDB(keyLines(key.KeyPEM)...)
	h.assertNotInDB("private_key_id")
}

// TestTokenExchangeAPI: the proxy and the token endpoint take the
// caller's token in Grantd-Subject-Token and exchange it at zitadel's op;
// without it they answer 400 naming the header; the header never goes
// upstream, and neither token is logged or stored.
func TestTokenExchangeAPI(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.clock.Set(time.Now())
	p := grantstest.NewExchangeProvider(t)
	h.addSecret(grantstest.ExchangeClientSecret)
	v := h.create(map[string]any{"name": "Enterprise", "url": p.URL + "/api", "auth": map[string]any{
		"grantType": "token_exchange", "accessTokenUrl": p.TokenURL(), "clientId": grantstest.ExchangeClientID,
		"clientSecret": grantstest.ExchangeClientSecret, "requestedTokenType": datasource.TokenTypeAccessToken,
		"scope": "openid", "exposeToken": true}})
	if v.Authorization.Status != "unauthorized" {
		t.Errorf("created: %+v", v.Authorization)
	}
	sso := p.MintSubjectToken(t, grantstest.ExchangeUser, 10*time.Minute)
	h.addSecret(sso)
	proxy := "/api/v1/datasources/" + v.ID + "/proxy/me"

	code, b, _ := h.do("GET", proxy, nil)
	if pr := decode[problem](t, b); code != 400 || len(pr.Errors) != 1 || pr.Errors[0].Field != "Grantd-Subject-Token" {
		t.Errorf("without the header: %d %s", code, b)
	}
	code, b, _ = h.do("GET", proxy, nil, "Grantd-Subject-Token", sso)
	ans := decode[grantstest.APIAnswer](t, b)
	if code != 200 || ans.Subject != grantstest.ExchangeUser {
		t.Fatalf("proxy: %d %s", code, b)
	}
	for k := range ans.Headers {
		if strings.HasPrefix(strings.ToLower(k), "grantd-") {
			t.Errorf("%s went upstream", k)
		}
	}
	code, b, _ = h.do("POST", "/api/v1/datasources/"+v.ID+"/token", nil, "Grantd-Subject-Token", "Bearer "+sso)
	tok := decode[struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}](t, b)
	if code != 200 || tok.AccessToken == "" || tok.ExpiresIn > 600 {
		t.Fatalf("token endpoint: %d %+v", code, tok)
	}
	h.addLogSecret(tok.AccessToken)
	if n := p.Exchanges(); n != 1 {
		t.Errorf("%d exchanges, want 1 (cached)", n)
	}
	if code, b, _ := h.do("POST", "/api/v1/datasources/"+v.ID+"/token", nil); code != 400 || !strings.Contains(string(b), "Grantd-Subject-Token") {
		t.Errorf("token endpoint without the header: %d %s", code, b)
	}
	h.assertNotInDB(sso, tok.AccessToken)
}

// TestUpstreamMutualTLS: the proxy presents each datasource's own upstream
// certificate to an upstream that requires one; a datasource without one
// is refused by the upstream's handshake.
func TestUpstreamMutualTLS(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	p := newProvider(t, h, grantstest.ProviderOptions{})
	a := grantstest.NewKeyPair(t, grantstest.KeyOptions{CommonName: "datasource-a"})
	b := grantstest.NewKeyPair(t, grantstest.KeyOptions{CommonName: "datasource-b"})
	h.addSecret(keyLines(a.KeyPEM)...)
	h.addSecret(keyLines(b.KeyPEM)...)
	pool := x509.NewCertPool()
	pool.AddCert(a.Cert)
	pool.AddCert(b.Cert)
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("cn=" + r.TLS.PeerCertificates[0].Subject.CommonName + " auth=" + r.Header.Get("Authorization")[:7]))
	}))
	up.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	up.StartTLS()
	defer up.Close()
	ca := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: up.Certificate().Raw}))

	mk := func(name string, k *grantstest.KeyPair) string {
		body := ccBody(p, name, "svc-secret-9f8e7d")
		body["url"] = up.URL + "/v1"
		auth := body["auth"].(map[string]any)
		auth["tlsCACert"] = ca
		if k != nil {
			auth["upstreamClientCertificate"], auth["upstreamPrivateKey"] = k.CertPEM, k.KeyPEM
		}
		v := h.create(body)
		if k != nil && (v.Auth["upstreamPrivateKeySet"] != true || v.Auth["upstreamPrivateKeyFingerprint"] != datasource.PublicKeyFingerprint(k.Signer.Public())) {
			t.Errorf("view %v", v.Auth)
		}
		return v.ID
	}
	idA, idB, idNone := mk("mTLS A", a), mk("mTLS B", b), mk("mTLS none", nil)
	for range 2 { // the second time over pooled connections
		for id, want := range map[string]string{idA: "cn=datasource-a auth=Bearer ", idB: "cn=datasource-b auth=Bearer "} {
			if code, body, _ := h.do("GET", "/api/v1/datasources/"+id+"/proxy/x", nil); code != 200 || string(body) != want {
				t.Errorf("%s: %d %q, want %q", id, code, body, want)
			}
		}
	}
	if code, body, _ := h.do("GET", "/api/v1/datasources/"+idNone+"/proxy/x", nil); code != 502 {
		t.Errorf("without a certificate: %d %s", code, body)
	}
}
