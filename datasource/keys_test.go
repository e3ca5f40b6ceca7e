package datasource_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/grants/grantstest"
)

func keyDS(mod func(a *datasource.OAuth2)) *datasource.Datasource {
	d := &datasource.Datasource{Name: "k", URL: "https://api.example.com", Auth: datasource.OAuth2{
		GrantType: datasource.ClientCredentials, AccessTokenURL: "https://id.example.com/token", ClientID: "c"}}
	mod(&d.Auth)
	d.Normalize()
	return d
}

func problems(err error) map[string]string {
	out := map[string]string{}
	var v *datasource.ValidationError
	if errors.As(err, &v) {
		for _, f := range v.Errors {
			out[f.Field] += f.Message + ";"
		}
	}
	return out
}

func TestKeyMaterialValidation(t *testing.T) {
	rsaKey := grantstest.NewKeyPair(t, grantstest.KeyOptions{})
	ecKey := grantstest.NewKeyPair(t, grantstest.KeyOptions{Type: "ec"})
	ed := grantstest.NewKeyPair(t, grantstest.KeyOptions{Type: "ed25519"})
	p384 := grantstest.NewKeyPair(t, grantstest.KeyOptions{Type: "ec384"})
	short := grantstest.NewKeyPair(t, grantstest.KeyOptions{Type: "rsa1024"})
	sa := rsaKey.ServiceAccountJSON("reader@p.iam.gserviceaccount.com", "k1", "https://oauth2.googleapis.com/token")
	for _, tc := range []struct {
		name  string
		mod   func(a *datasource.OAuth2)
		field string // "" for valid
		msg   string
	}{
		{"private_key_jwt with an RSA key", func(a *datasource.OAuth2) {
			a.ClientAuthentication, a.PrivateKey = datasource.ClientAuthPrivateKeyJWT, datasource.NewSecret(rsaKey.KeyPEM)
		}, "", ""},
		{"private_key_jwt with an EC key and its certificate", func(a *datasource.OAuth2) {
			a.ClientAuthentication, a.PrivateKey, a.ClientCertificate = datasource.ClientAuthPrivateKeyJWT, datasource.NewSecret(ecKey.KeyPEM), ecKey.CertPEM
		}, "", ""},
		{"tls_client_auth", func(a *datasource.OAuth2) {
			a.ClientAuthentication, a.PrivateKey, a.ClientCertificate = datasource.ClientAuthTLS, datasource.NewSecret(rsaKey.KeyPEM), rsaKey.CertPEM
		}, "", ""},
		{"auto with a key needs no secret", func(a *datasource.OAuth2) { a.PrivateKey = datasource.NewSecret(ecKey.KeyPEM) }, "", ""},
		{"a key by reference", func(a *datasource.OAuth2) {
			a.ClientAuthentication, a.PrivateKey = datasource.ClientAuthPrivateKeyJWT, datasource.NewSecret("${env:PARTNER_PRIVATE_KEY}")
		}, "", ""},
		{"client_credentials with nothing", func(a *datasource.OAuth2) {}, "auth.clientSecret", "is required"},
		{"basic with only a key", func(a *datasource.OAuth2) {
			a.ClientAuthentication, a.PrivateKey = datasource.ClientAuthBasic, datasource.NewSecret(rsaKey.KeyPEM)
		}, "auth.clientSecret", "is required"},
		{"malformed PEM", func(a *datasource.OAuth2) {
			a.ClientAuthentication, a.PrivateKey = datasource.ClientAuthPrivateKeyJWT, datasource.NewSecret("-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----")
		}, "auth.privateKey", "PEM"},
		{"a certificate as the key", func(a *datasource.OAuth2) {
			a.ClientAuthentication, a.PrivateKey = datasource.ClientAuthPrivateKeyJWT, datasource.NewSecret(rsaKey.CertPEM)
		}, "auth.privateKey", "not \"CERTIFICATE\""},
		{"Ed25519", func(a *datasource.OAuth2) {
			a.ClientAuthentication, a.PrivateKey = datasource.ClientAuthPrivateKeyJWT, datasource.NewSecret(ed.KeyPEM)
		}, "auth.privateKey", "unsupported key type"},
		{"P-384", func(a *datasource.OAuth2) {
			a.ClientAuthentication, a.PrivateKey = datasource.ClientAuthPrivateKeyJWT, datasource.NewSecret(p384.KeyPEM)
		}, "auth.privateKey", "unsupported key type"},
		{"RSA 1024", func(a *datasource.OAuth2) {
			a.ClientAuthentication, a.PrivateKey = datasource.ClientAuthPrivateKeyJWT, datasource.NewSecret(short.KeyPEM)
		}, "auth.privateKey", "at least 2048"},
		{"key and certificate differ", func(a *datasource.OAuth2) {
			a.ClientAuthentication, a.PrivateKey, a.ClientCertificate = datasource.ClientAuthTLS, datasource.NewSecret(rsaKey.KeyPEM), ecKey.CertPEM
		}, "auth.clientCertificate", "does not belong to privateKey"},
		{"tls_client_auth without a certificate", func(a *datasource.OAuth2) {
			a.ClientAuthentication, a.PrivateKey = datasource.ClientAuthTLS, datasource.NewSecret(rsaKey.KeyPEM)
		}, "auth.clientCertificate", "is required"},
		{"a certificate without its key", func(a *datasource.OAuth2) {
			a.ClientSecret, a.ClientCertificate = datasource.NewSecret("s"), rsaKey.CertPEM
		}, "auth.privateKey", "is required with clientCertificate"},
		{"a malformed certificate", func(a *datasource.OAuth2) {
			a.ClientAuthentication, a.PrivateKey, a.ClientCertificate = datasource.ClientAuthTLS, datasource.NewSecret(rsaKey.KeyPEM), "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"
		}, "auth.clientCertificate", "does not parse"},
		{"jwt_bearer without a key", func(a *datasource.OAuth2) { a.GrantType = datasource.JWTBearer }, "auth.privateKey", "is required for jwt_bearer"},
		{"jwt_bearer with a service account", func(a *datasource.OAuth2) {
			a.GrantType, a.AccessTokenURL, a.ClientID, a.ServiceAccountJSON = datasource.JWTBearer, "", "", datasource.NewSecret(sa)
		}, "", ""},
		{"a service account that is not JSON", func(a *datasource.OAuth2) {
			a.GrantType, a.ServiceAccountJSON = datasource.JWTBearer, datasource.NewSecret("{nope")
		}, "auth.serviceAccountJson", "JSON"},
		{"a service account with a broken key", func(a *datasource.OAuth2) {
			a.GrantType, a.ServiceAccountJSON = datasource.JWTBearer, datasource.NewSecret(strings.Replace(sa, "MII", "xx", 1))
		}, "auth.serviceAccountJson", "private_key"},
		{"token_exchange as a public client", func(a *datasource.OAuth2) { a.GrantType = datasource.TokenExchange }, "", ""},
		{"a subject token type that is no URI", func(a *datasource.OAuth2) {
			a.GrantType, a.SubjectTokenType = datasource.TokenExchange, "access token"
		}, "auth.subjectTokenType", "token type URI"},
		{"upstream certificate without its key", func(a *datasource.OAuth2) {
			a.ClientSecret, a.UpstreamClientCertificate = datasource.NewSecret("s"), rsaKey.CertPEM
		}, "auth.upstreamPrivateKey", "is required"},
		{"upstream key that is not the certificate's", func(a *datasource.OAuth2) {
			a.ClientSecret, a.UpstreamClientCertificate, a.UpstreamPrivateKey = datasource.NewSecret("s"), rsaKey.CertPEM, datasource.NewSecret(ecKey.KeyPEM)
		}, "auth.upstreamClientCertificate", "does not belong to upstreamPrivateKey"},
		{"an unknown client authentication", func(a *datasource.OAuth2) {
			a.ClientSecret, a.ClientAuthentication = datasource.NewSecret("s"), "client_secret_jwt"
		}, "auth.clientAuthentication", "must be one of"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := keyDS(tc.mod)
			got := problems(d.Validate())
			if tc.field == "" {
				if len(got) > 0 {
					t.Fatalf("want valid, got %v", got)
				}
				return
			}
			if !strings.Contains(got[tc.field], tc.msg) {
				t.Fatalf("want %s: %q…, got %v", tc.field, tc.msg, got)
			}
			for _, m := range got {
				if strings.Contains(m, "MII") || strings.Contains(m, "-----END") {
					t.Errorf("a message quotes the key: %q", m)
				}
			}
		})
	}
}

func TestServiceAccountFillsFields(t *testing.T) {
	k := grantstest.NewKeyPair(t, grantstest.KeyOptions{})
	d := keyDS(func(a *datasource.OAuth2) {
		a.GrantType, a.AccessTokenURL, a.ClientID = datasource.JWTBearer, "", ""
		a.ServiceAccountJSON = datasource.NewSecret(k.ServiceAccountJSON("reader@p.iam.gserviceaccount.com", "kid-7", "https://oauth2.googleapis.com/token"))
	})
	if d.Auth.ClientID != "reader@p.iam.gserviceaccount.com" || d.Auth.KeyID != "kid-7" || d.Auth.AccessTokenURL != "https://oauth2.googleapis.com/token" {
		t.Errorf("filled: %+v", d.Auth)
	}
	if got := d.Auth.SigningKey().Reveal(); got != k.KeyPEM {
		t.Error("the signing key is not the service account's")
	}
	info := datasource.DescribeKey(d.Auth.SigningKey(), "")
	if info.Fingerprint != datasource.PublicKeyFingerprint(k.Signer.Public()) || len(info.Fingerprint) != 64 {
		t.Errorf("fingerprint %q", info.Fingerprint)
	}
	// Explicit fields win.
	d = keyDS(func(a *datasource.OAuth2) {
		a.GrantType, a.ClientID = datasource.JWTBearer, "explicit"
		a.ServiceAccountJSON = datasource.NewSecret(k.ServiceAccountJSON("reader@p.iam.gserviceaccount.com", "kid-7", "https://oauth2.googleapis.com/token"))
	})
	if d.Auth.ClientID != "explicit" || d.Auth.AccessTokenURL != "https://id.example.com/token" {
		t.Errorf("explicit fields overwritten: %+v", d.Auth)
	}
}

func TestCheckCertificates(t *testing.T) {
	now := time.Now()
	expired := grantstest.NewKeyPair(t, grantstest.KeyOptions{NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)})
	future := grantstest.NewKeyPair(t, grantstest.KeyOptions{NotBefore: now.Add(time.Hour), NotAfter: now.Add(48 * time.Hour)})
	good := grantstest.NewKeyPair(t, grantstest.KeyOptions{})
	a := &datasource.OAuth2{ClientCertificate: expired.CertPEM, UpstreamClientCertificate: future.CertPEM}
	got := a.CheckCertificates(now)
	if len(got) != 2 || got[0].Field != "auth.clientCertificate" || !strings.Contains(got[0].Message, "has expired") ||
		got[1].Field != "auth.upstreamClientCertificate" || !strings.Contains(got[1].Message, "not valid yet") {
		t.Errorf("got %+v", got)
	}
	a = &datasource.OAuth2{ClientCertificate: good.CertPEM}
	if got := a.CheckCertificates(now); len(got) != 0 {
		t.Errorf("a good certificate: %+v", got)
	}
}
