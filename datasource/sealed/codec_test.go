package sealed

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/grantd/grantd/crypto"
	"github.com/grantd/grantd/datasource"
)

func codec(t *testing.T) Codec {
	ks, err := crypto.NewKeyset()
	if err != nil {
		t.Fatal(err)
	}
	return Codec{Sealer: ks}
}

func TestDatasourceRoundTrip(t *testing.T) {
	c := codec(t)
	f := false
	now := time.Date(2026, 11, 23, 1, 2, 3, 4, time.UTC)
	for _, d := range []*datasource.Datasource{
		{ID: "ds_defaults", Name: "a", URL: "https://a.example", Auth: datasource.OAuth2{GrantType: datasource.ClientCredentials,
			AccessTokenURL: "https://id.example/token", ClientID: "c", ClientSecret: datasource.NewSecret("s3cret")}, CreatedAt: now, UpdatedAt: now},
		{ID: "ds_everything", Name: "b", URL: "https://b.example/v1", Auth: datasource.OAuth2{GrantType: datasource.AuthorizationCode,
			AccessTokenURL: "https://id.example/token", AuthorizationURL: "https://id.example/auth", ClientID: "c", Scope: "a, b",
			ClientAuthentication: datasource.ClientAuthBasic, TokenPlacement: datasource.PlacementQuery, HeaderName: "X-Key", HeaderPrefix: datasource.Ptr("Token"),
			QueryParamName: "key", Audience: "aud", Resource: "https://r.example", CustomAuthParams: map[string]string{"prompt": "consent"},
			TokenParams: map[string]string{"t": "1"}, PKCE: &f, SendScopeOnRefresh: true, RefreshClientAuthentication: datasource.ClientAuthBody,
			TLSCACert: "PEM", ExpiresInDefault: 60, ExposeToken: true}, CreatedAt: now, UpdatedAt: now},
	} {
		d.Normalize()
		b, err := c.EncodeDatasource(d)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("s3cret")) {
			t.Fatal("secret in the record")
		}
		got, err := c.DecodeDatasource(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, d) {
			t.Errorf("%s: round trip\n got %#v\nwant %#v", d.ID, got, d)
		}
		if d.ID == "ds_defaults" {
			for _, def := range []string{"headerPrefix", "tokenPlacement", "pkce", "customAuthParams", "exposeToken"} {
				if bytes.Contains(b, []byte(def)) {
					t.Errorf("default %s stored: %s", def, b)
				}
			}
		}
	}
}

func TestTokenBoundToItsRecord(t *testing.T) {
	c := codec(t)
	r := &datasource.TokenRecord{Generation: 3, AccessToken: datasource.NewSecret("at"), RefreshToken: datasource.NewSecret("rt"),
		Status: datasource.StatusAuthorized, Expiry: time.Unix(1_800_000_000, 0).UTC(), PermanentFailure: true}
	b, err := c.EncodeToken("ds_1", r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.DecodeToken("ds_1", b)
	if err != nil || !reflect.DeepEqual(got, r) {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	if _, err := c.DecodeToken("ds_2", b); !errors.Is(err, crypto.ErrOpen) {
		t.Errorf("as another datasource's: %v", err)
	}
	sc, err := DecodeSchedule(b)
	if err != nil || sc.Generation != 3 || !sc.HasToken || !sc.HasRefreshToken || !sc.PermanentFailure {
		t.Errorf("schedule %+v %v", sc, err)
	}
	if _, err := c.DecodeToken("ds_1", []byte(`{"v":2}`)); !errors.Is(err, ErrFormat) {
		t.Errorf("future version: %v", err)
	}
}
