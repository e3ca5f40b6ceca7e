package grants_test

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/grants"
	"github.com/grantd/grantd/grants/grantstest"
)

// The tests here run against ory/fosite: its RFC 7523 jwt-bearer grant,
// and its private_key_jwt client authentication with the client's keys
// as a JSON Web Key Set. fosite checks assertions against the wall clock,
// so each fixture's clock is set to it.

func newRealTimeFixture(t *testing.T) *fixture {
	f := newFixture(t, fixtureOptions{})
	f.clock.Set(time.Now())
	return f
}

// jwtParts decodes a compact JWS's header and claims.
func jwtParts(t *testing.T, tok string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", tok)
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil || json.Unmarshal(b, dst) != nil {
			t.Fatalf("JWS part %d does not decode", i)
		}
	}
	return header, claims
}

func lastEvent(t *testing.T, p *grantstest.Provider, grantType string) grantstest.TokenEvent {
	t.Helper()
	evs := p.Events()
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].GrantType == grantType {
			return evs[i]
		}
	}
	t.Fatalf("no %s token request among %+v", grantType, evs)
	return grantstest.TokenEvent{}
}

// TestJWTBearerServiceAccount: a Google service-account key file pasted
// as it is makes a working jwt_bearer datasource; the assertion carries
// the claims RFC 7523 asks for, a kid, a unique jti and a short life; the
// key is nowhere in the logs or the database.
func TestJWTBearerServiceAccount(t *testing.T) {
	p := grantstest.NewProvider(t, grantstest.ProviderOptions{JWT: true})
	key := grantstest.NewKeyPair(t, grantstest.KeyOptions{})
	const email = "sheets-reader@grantd-test.iam.gserviceaccount.com"
	p.AddAssertionKey(email, email, "key-1", key.Signer.Public(), []string{"https://www.googleapis.com/auth/spreadsheets.readonly"})
	f := newRealTimeFixture(t)
	sa := key.ServiceAccountJSON(email, "key-1", p.TokenURL())
	d := f.create(&datasource.Datasource{Name: "Sheets", URL: p.URL + "/api", Auth: datasource.OAuth2{
		GrantType: datasource.JWTBearer, ServiceAccountJSON: datasource.NewSecret(sa),
		Scope: "https://www.googleapis.com/auth/spreadsheets.readonly"}})
	if d.Auth.ClientID != email || d.Auth.AccessTokenURL != p.TokenURL() || d.Auth.KeyID != "key-1" {
		t.Fatalf("the key file did not fill the fields: %+v", d.Auth)
	}
	if a := f.status(d.ID); a.Status != datasource.StatusAuthorized {
		t.Fatalf("status %+v", a)
	}
	code, ans := f.callAPI(d.ID, "/values")
	if code != 200 || ans.Subject != email {
		t.Fatalf("API: %d %+v", code, ans)
	}
	ev := lastEvent(t, p, "urn:ietf:params:oauth:grant-type:jwt-bearer")
	if ev.AuthMethod != "none" || ev.Form["scope"] != "https://www.googleapis.com/auth/spreadsheets.readonly" {
		t.Errorf("token request %+v", ev)
	}
	h, c := jwtParts(t, ev.Assertion)
	if h["alg"] != "RS256" || h["kid"] != "key-1" || h["typ"] != "JWT" {
		t.Errorf("header %v", h)
	}
	if c["iss"] != email || c["sub"] != email || c["aud"] != p.TokenURL() || c["scope"] != "https://www.googleapis.com/auth/spreadsheets.readonly" {
		t.Errorf("claims %v", c)
	}
	iat, exp := c["iat"].(float64), c["exp"].(float64)
	if exp-iat <= 0 || exp-iat > 3600 || c["jti"] == "" {
		t.Errorf("lifetime %v s, jti %v", exp-iat, c["jti"])
	}
	// A second token request signs a new assertion.
	if a, _ := f.engine.Refresh(ctx, datasource.SharedKey(d.ID)); a.Status != datasource.StatusAuthorized {
		t.Fatalf("refresh: %+v", a)
	}
	_, c2 := jwtParts(t, lastEvent(t, p, "urn:ietf:params:oauth:grant-type:jwt-bearer").Assertion)
	if c2["jti"] == c["jti"] {
		t.Error("jti reused")
	}

	f.assertNoSecrets(key.KeyPEM, strings.Split(key.KeyPEM, "\n")[1], sa)
	f.store.Close()
	db, _ := os.ReadFile(filepath.Join(f.dir, "grantd.db"))
	for _, s := range []string{strings.Split(key.KeyPEM, "\n")[1], "private_key_id", "key-1\\n"} {
		if bytes.Contains(db, []byte(s)) {
			t.Errorf("%q in the database", s)
		}
	}
	f.restart(fixtureOptions{})
}

// TestJWTBearerSubject: the configured subject, and for an end user of a
// per-user datasource their connectionConfig.subject or id, is the
// assertion's sub (Google domain-wide delegation).
func TestJWTBearerSubject(t *testing.T) {
	p := grantstest.NewProvider(t, grantstest.ProviderOptions{JWT: true})
	key := grantstest.NewKeyPair(t, grantstest.KeyOptions{Type: "ec"})
	const iss = "delegate@corp.example"
	for _, sub := range []string{"alice@corp.example", "bob@corp.example", "carol"} {
		p.AddAssertionKey(iss, sub, "", key.Signer.Public(), []string{"directory.read"})
	}
	f := newRealTimeFixture(t)
	d := f.create(&datasource.Datasource{Name: "Directory", URL: p.URL + "/api", Auth: datasource.OAuth2{
		GrantType: datasource.JWTBearer, AccessTokenURL: p.TokenURL(), ClientID: iss, Subject: "alice@corp.example",
		PrivateKey: datasource.NewSecret(key.KeyPEM), Scope: "directory.read"}})
	if code, ans := f.callAPI(d.ID, "/"); code != 200 || ans.Subject != "alice@corp.example" {
		t.Fatalf("configured subject: %d %+v", code, ans)
	}
	if h, _ := jwtParts(t, lastEvent(t, p, "urn:ietf:params:oauth:grant-type:jwt-bearer").Assertion); h["alg"] != "ES256" {
		t.Errorf("an EC key signs %v", h["alg"])
	}

	// A per-user datasource signs for each end user: the first call for
	// an end user makes their connection (no browser), and the token is
	// theirs. A connection's config may name the subject.
	pu := f.create(&datasource.Datasource{Name: "Directory per user", URL: p.URL + "/api", ConnectionMode: datasource.PerUser,
		Auth: datasource.OAuth2{GrantType: datasource.JWTBearer, AccessTokenURL: p.TokenURL(), ClientID: iss,
			PrivateKey: datasource.NewSecret(key.KeyPEM), Scope: "directory.read"}})
	if _, err := f.store.SaveConnection(ctx, &datasource.Connection{DatasourceID: pu.ID, EndUserID: "bob-42",
		Config: map[string]string{"subject": "bob@corp.example"}, CreatedAt: time.Now(), UpdatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ endUser, want string }{{"bob-42", "bob@corp.example"}, {"carol", "carol"}, {"alice@corp.example", "alice@corp.example"}} {
		hc, err := f.engine.Client(ctx, datasource.Key{Datasource: pu.ID, EndUser: tc.endUser})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Get(p.URL + "/api/")
		if err != nil {
			t.Fatal(err)
		}
		var ans grantstest.APIAnswer
		json.NewDecoder(resp.Body).Decode(&ans)
		resp.Body.Close()
		if resp.StatusCode != 200 || ans.Subject != tc.want {
			t.Errorf("end user %s: %d, the token is for %q, want %q", tc.endUser, resp.StatusCode, ans.Subject, tc.want)
		}
	}
	conns, _, err := f.engine.Connections(ctx, datasource.ConnectionQuery{DatasourceID: pu.ID})
	if err != nil || len(conns) != 3 {
		t.Fatalf("connections after the calls: %d, %v", len(conns), err)
	}
	for _, c := range conns {
		if c.Authorization.Status != datasource.StatusAuthorized {
			t.Errorf("connection %s: %s", c.EndUserID, c.Authorization.Status)
		}
	}
	// Without an end user, a per-user datasource refuses.
	if _, err := f.engine.Token(ctx, datasource.SharedKey(pu.ID)); !errors.Is(err, grants.ErrEndUserRequired) {
		t.Errorf("no end user: %v", err)
	}
}

// TestPrivateKeyJWT: client credentials, authorization code and refresh
// authenticate with a signed client assertion, with RSA (RS256, or PS256
// when the provider takes only that) and EC keys, explicitly and chosen
// by auto from the provider's metadata; a certificate puts x5t#S256 and
// x5t in the header, as Microsoft Entra wants.
func TestPrivateKeyJWT(t *testing.T) {
	rsaKey := grantstest.NewKeyPair(t, grantstest.KeyOptions{})
	ecKey := grantstest.NewKeyPair(t, grantstest.KeyOptions{Type: "ec"})

	t.Run("client credentials, explicit, EC with certificate", func(t *testing.T) {
		p := grantstest.NewProvider(t, grantstest.ProviderOptions{})
		p.AddClient(grantstest.Client{ID: "svc", AuthMethod: "private_key_jwt", SigningAlg: "ES256",
			Keys: map[string]any{"ec-1": ecKey.Signer.Public()}, Scopes: []string{"api/read", "api/write"}})
		f := newRealTimeFixture(t)
		ds := ccDatasource(p, "svc", "")
		ds.Auth.ClientSecret = datasource.Secret{}
		ds.Auth.ClientAuthentication = datasource.ClientAuthPrivateKeyJWT
		ds.Auth.PrivateKey, ds.Auth.KeyID, ds.Auth.ClientCertificate = datasource.NewSecret(ecKey.KeyPEM), "ec-1", ecKey.CertPEM
		d := f.create(ds)
		if a := f.status(d.ID); a.Status != datasource.StatusAuthorized {
			t.Fatalf("status %+v", a)
		}
		ev := lastEvent(t, p, "client_credentials")
		if ev.AuthMethod != "private_key_jwt" || ev.Form["client_assertion_type"] != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			t.Errorf("token request %+v", ev)
		}
		h, c := jwtParts(t, ev.Assertion)
		s256, s1 := sha256.Sum256(ecKey.Cert.Raw), sha1.Sum(ecKey.Cert.Raw)
		if h["alg"] != "ES256" || h["kid"] != "ec-1" || h["x5t#S256"] != base64.RawURLEncoding.EncodeToString(s256[:]) ||
			h["x5t"] != base64.RawURLEncoding.EncodeToString(s1[:]) {
			t.Errorf("header %v", h)
		}
		if c["iss"] != "svc" || c["sub"] != "svc" || c["aud"] != p.TokenURL() || c["jti"] == "" || c["exp"].(float64)-c["iat"].(float64) > 3600 {
			t.Errorf("claims %v", c)
		}
		f.assertNoSecrets(ecKey.KeyPEM, strings.Split(ecKey.KeyPEM, "\n")[1])
	})

	t.Run("auto from metadata, PS256", func(t *testing.T) {
		p := grantstest.NewProvider(t, grantstest.ProviderOptions{AuthMethods: []string{"client_secret_basic", "private_key_jwt"}, SigningAlgs: []string{"PS256"}})
		p.AddClient(grantstest.Client{ID: "fapi", AuthMethod: "private_key_jwt", SigningAlg: "PS256",
			Keys: map[string]any{"r1": rsaKey.Signer.Public()}, Scopes: []string{"api/read", "api/write"}})
		f := newRealTimeFixture(t)
		ds := ccDatasource(p, "fapi", "")
		ds.Auth.ClientSecret = datasource.Secret{}
		ds.Auth.PrivateKey, ds.Auth.KeyID = datasource.NewSecret(rsaKey.KeyPEM), "r1"
		d := f.create(ds)
		if a := f.status(d.ID); a.Status != datasource.StatusAuthorized {
			t.Fatalf("status %+v", a)
		}
		if h, _ := jwtParts(t, lastEvent(t, p, "client_credentials").Assertion); h["alg"] != "PS256" {
			t.Errorf("alg %v, want PS256", h["alg"])
		}
		if r := f.record(d.ID); r.DetectedAuth != datasource.ClientAuthPrivateKeyJWT {
			t.Errorf("remembered %q", r.DetectedAuth)
		}
	})

	t.Run("authorization code and refresh", func(t *testing.T) {
		p := grantstest.NewProvider(t, grantstest.ProviderOptions{})
		p.AddClient(grantstest.Client{ID: "web", AuthMethod: "private_key_jwt", Keys: map[string]any{"r1": rsaKey.Signer.Public()},
			Scopes: []string{"openid", "profile"}, RedirectURIs: []string{redirectURI}})
		f := newRealTimeFixture(t)
		ds := acDatasource(p, "web", "")
		ds.Auth.ClientSecret = datasource.Secret{}
		ds.Auth.ClientAuthentication = datasource.ClientAuthPrivateKeyJWT
		ds.Auth.PrivateKey, ds.Auth.KeyID = datasource.NewSecret(rsaKey.KeyPEM), "r1"
		d := f.authorize(p, ds)
		if ev := lastEvent(t, p, "authorization_code"); ev.AuthMethod != "private_key_jwt" || ev.Status != 200 {
			t.Errorf("code exchange %+v", ev)
		}
		if a, _ := f.engine.Refresh(ctx, datasource.SharedKey(d.ID)); a.Status != datasource.StatusAuthorized {
			t.Fatalf("refresh: %+v", a)
		}
		if ev := lastEvent(t, p, "refresh_token"); ev.AuthMethod != "private_key_jwt" || ev.Status != 200 {
			t.Errorf("refresh %+v", ev)
		}
		if code, ans := f.callAPI(d.ID, "/me"); code != 200 || ans.Subject != grantstest.Username {
			t.Errorf("API %d %+v", code, ans)
		}
		// Revocation (RFC 7009) authenticates the same way.
		res, err := f.engine.Revoke(ctx, datasource.SharedKey(d.ID))
		if err != nil || !res.AtProvider || res.ProviderError != "" {
			t.Errorf("revoke: %+v %v", res, err)
		}
	})

	t.Run("the wrong key", func(t *testing.T) {
		p := grantstest.NewProvider(t, grantstest.ProviderOptions{})
		p.AddClient(grantstest.Client{ID: "svc", AuthMethod: "private_key_jwt", Keys: map[string]any{"r1": rsaKey.Signer.Public()}, Scopes: []string{"api/read", "api/write"}})
		f := newRealTimeFixture(t)
		other := grantstest.NewKeyPair(t, grantstest.KeyOptions{})
		ds := ccDatasource(p, "svc", "")
		ds.Auth.ClientSecret = datasource.Secret{}
		ds.Auth.ClientAuthentication = datasource.ClientAuthPrivateKeyJWT
		ds.Auth.PrivateKey, ds.Auth.KeyID = datasource.NewSecret(other.KeyPEM), "r1"
		d := f.create(ds)
		if a := f.status(d.ID); a.Status != datasource.StatusError || !strings.Contains(a.LastError, "invalid_client") {
			t.Fatalf("status %+v", a)
		}
	})
}

// TestTLSClientAuth: against a Go TLS server that refuses handshakes
// without a client certificate, a tls_client_auth datasource presents
// its certificate and gets a token; another certificate is refused.
func TestTLSClientAuth(t *testing.T) {
	p := grantstest.NewProvider(t, grantstest.ProviderOptions{RequireClientCert: true, AuthMethods: []string{"self_signed_tls_client_auth"}})
	key := grantstest.NewKeyPair(t, grantstest.KeyOptions{})
	p.AddClient(grantstest.Client{ID: "bank", TLSCertificate: key.Cert, Scopes: []string{"api/read", "api/write"}})
	f := newRealTimeFixture(t)

	mk := func(k *grantstest.KeyPair, style datasource.ClientAuth) *datasource.Datasource {
		ds := ccDatasource(p, "bank", "")
		ds.Auth.ClientSecret = datasource.Secret{}
		ds.Auth.ClientAuthentication = style
		ds.Auth.TLSCACert = p.CACertPEM()
		ds.Auth.PrivateKey, ds.Auth.ClientCertificate = datasource.NewSecret(k.KeyPEM), k.CertPEM
		return f.create(ds)
	}
	d := mk(key, datasource.ClientAuthTLS)
	if a := f.status(d.ID); a.Status != datasource.StatusAuthorized {
		t.Fatalf("status %+v", a)
	}
	if ev := lastEvent(t, p, "client_credentials"); ev.AuthMethod != "tls" || ev.Form["client_id"] != "bank" || ev.Form["client_secret"] != "" {
		t.Errorf("token request %+v", ev)
	}
	// The API behind the same server wants a client certificate too:
	// the datasource's upstream pair.
	up := d.Clone()
	up.Auth.UpstreamClientCertificate, up.Auth.UpstreamPrivateKey = key.CertPEM, datasource.NewSecret(key.KeyPEM)
	if _, _, _, err := f.engine.Update(ctx, grants.Change{Datasource: up}); err != nil {
		t.Fatal(err)
	}
	if code, ans := f.callAPI(d.ID, "/accounts"); code != 200 || ans.ClientID != "bank" {
		t.Errorf("API: %d %+v", code, ans)
	}
	// auto picks tls_client_auth from the metadata when it has the pair.
	auto := mk(key, datasource.ClientAuthAuto)
	if a := f.status(auto.ID); a.Status != datasource.StatusAuthorized {
		t.Fatalf("auto: %+v", a)
	}
	if r := f.record(auto.ID); r.DetectedAuth != datasource.ClientAuthTLS {
		t.Errorf("auto remembered %q", r.DetectedAuth)
	}

	stranger := mk(grantstest.NewKeyPair(t, grantstest.KeyOptions{}), datasource.ClientAuthTLS)
	if a := f.status(stranger.ID); a.Status != datasource.StatusError || !strings.Contains(a.LastError, "invalid_client") {
		t.Errorf("another certificate: %+v", a)
	}
	// Without any certificate the handshake itself fails.
	plain := ccDatasource(p, "bank", "unused")
	plain.Auth.TLSCACert = p.CACertPEM()
	plain = f.create(plain)
	if a := f.status(plain.ID); a.Status != datasource.StatusError {
		t.Errorf("no certificate: %+v", a)
	}
	f.assertNoSecrets(key.KeyPEM, strings.Split(key.KeyPEM, "\n")[1])
}

// TestKeysBoundToTheirOrigin: moving the token URL to another origin
// needs the private key (or key file) again; moving the datasource's URL
// needs the upstream key again; an expired certificate is refused.
func TestKeysBoundToTheirOrigin(t *testing.T) {
	p := grantstest.NewProvider(t, grantstest.ProviderOptions{})
	key := grantstest.NewKeyPair(t, grantstest.KeyOptions{})
	p.AddClient(grantstest.Client{ID: "svc", AuthMethod: "private_key_jwt", Keys: map[string]any{"k": key.Signer.Public()}, Scopes: []string{"api/read", "api/write"}})
	f := newRealTimeFixture(t)
	ds := ccDatasource(p, "svc", "")
	ds.Auth.ClientSecret = datasource.Secret{}
	ds.Auth.ClientAuthentication = datasource.ClientAuthPrivateKeyJWT
	ds.Auth.PrivateKey, ds.Auth.KeyID = datasource.NewSecret(key.KeyPEM), "k"
	ds.Auth.UpstreamClientCertificate, ds.Auth.UpstreamPrivateKey = key.CertPEM, datasource.NewSecret(key.KeyPEM)
	d := f.create(ds)

	fieldsOf := func(err error) []string {
		var v *datasource.ValidationError
		if !errors.As(err, &v) {
			t.Fatalf("want a validation error, got %v", err)
		}
		var out []string
		for _, fe := range v.Errors {
			out = append(out, fe.Field)
		}
		return out
	}
	moved := d.Clone()
	moved.Auth.PrivateKey, moved.Auth.UpstreamPrivateKey = datasource.Secret{}, datasource.Secret{}
	moved.Auth.AccessTokenURL = "https://evil.example/token"
	_, _, _, err := f.engine.Update(ctx, grants.Change{Datasource: moved, Keep: []string{"auth.privateKey", "auth.upstreamPrivateKey"}})
	if got := fieldsOf(err); len(got) != 1 || got[0] != "auth.privateKey" {
		t.Errorf("token URL moved: %v", got)
	}
	moved = d.Clone()
	moved.Auth.PrivateKey, moved.Auth.UpstreamPrivateKey = datasource.Secret{}, datasource.Secret{}
	moved.URL = "https://elsewhere.example/api"
	_, _, _, err = f.engine.Update(ctx, grants.Change{Datasource: moved, Keep: []string{"auth.privateKey", "auth.upstreamPrivateKey"}})
	if got := fieldsOf(err); len(got) != 1 || got[0] != "auth.upstreamPrivateKey" {
		t.Errorf("url moved: %v", got)
	}
	// Same origins: kept, no change.
	same := d.Clone()
	same.Auth.PrivateKey, same.Auth.UpstreamPrivateKey = datasource.Secret{}, datasource.Secret{}
	if _, _, changed, err := f.engine.Update(ctx, grants.Change{Datasource: same, Keep: []string{"auth.privateKey", "auth.upstreamPrivateKey"}}); err != nil || changed {
		t.Errorf("round trip: changed %v, %v", changed, err)
	}

	old := grantstest.NewKeyPair(t, grantstest.KeyOptions{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	exp := ccDatasource(p, "svc", "")
	exp.Auth.ClientSecret = datasource.Secret{}
	exp.Auth.ClientAuthentication = datasource.ClientAuthTLS
	exp.Auth.PrivateKey, exp.Auth.ClientCertificate = datasource.NewSecret(old.KeyPEM), old.CertPEM
	_, _, err = f.engine.Create(ctx, exp)
	if got := fieldsOf(err); len(got) != 1 || got[0] != "auth.clientCertificate" {
		t.Errorf("expired certificate: %v", got)
	}
}
