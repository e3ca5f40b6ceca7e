package storetest

import (
	"maps"
	"slices"
	"testing"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/datasource/sealed"
)

// templated is a datasource filled from a provider entry: templates,
// connectionConfig, a token-answer mapping with kept fields, statuses
// that force a refresh, comma-joined scopes.
func templated(id, name string) *datasource.Datasource {
	d := sample(id, name)
	d.Provider = "salesforce"
	d.URL = "https://{token.instance_url}/services/data"
	d.Auth.AccessTokenURL = "https://{domain}/services/oauth2/token"
	d.ConnectionConfig = map[string]string{"domain": "login.salesforce.com"}
	d.Auth.ScopeSeparator = ","
	d.Auth.ScopeParam = "user_scope"
	d.Auth.TokenResponse = datasource.TokenResponse{AccessTokenPath: "/authed_user/access_token", ExpiresInPath: "/authed_user/expires_in", Keep: []string{"instance_url", "id"}}
	d.Auth.RefreshOnStatus = []int{401, 403}
	d.Normalize()
	return d
}

// testProviderFields: what a provider fills and what a token answer keeps
// comes back as it was stored, the kept fields in the schedule view too
// (status views read no sealed field).
func testProviderFields(t *testing.T, s datasource.Store) {
	d := templated("ds_p", "Salesforce")
	if err := s.CreateDatasource(ctx, d); err != nil {
		t.Fatal(err)
	}
	got, err := s.Datasource(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Provider != d.Provider || got.URL != d.URL || got.Auth.AccessTokenURL != d.Auth.AccessTokenURL ||
		got.Auth.ScopeSeparator != "," || got.Auth.ScopeParam != "user_scope" ||
		!slices.Equal(got.Auth.RefreshOnStatus, []int{401, 403}) ||
		got.Auth.TokenResponse.AccessTokenPath != d.Auth.TokenResponse.AccessTokenPath ||
		got.Auth.TokenResponse.ExpiresInPath != d.Auth.TokenResponse.ExpiresInPath ||
		!slices.Equal(got.Auth.TokenResponse.Keep, d.Auth.TokenResponse.Keep) ||
		!maps.Equal(got.ConnectionConfig, d.ConnectionConfig) {
		t.Errorf("read back %+v\nwant %+v", got, d)
	}
	plain := sample("ds_q", "Plain")
	if err := s.CreateDatasource(ctx, plain); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Datasource(ctx, plain.ID); got.Auth.ScopeSeparator != " " || !slices.Equal(got.Auth.RefreshOnStatus, []int{401}) || !got.Auth.TokenResponse.IsZero() {
		t.Errorf("defaults read back as %q %v %+v", got.Auth.ScopeSeparator, got.Auth.RefreshOnStatus, got.Auth.TokenResponse)
	}

	rec := sampleToken(1)
	rec.Kept = map[string]string{"instance_url": "https://acme.my.salesforce.com", "id": "005x"}
	k := datasource.SharedKey(d.ID)
	if err := s.SaveTokenRecord(ctx, k, rec, 0); err != nil {
		t.Fatal(err)
	}
	back, err := s.TokenRecord(ctx, k)
	if err != nil || !maps.Equal(back.Kept, rec.Kept) {
		t.Errorf("token record kept %v, %v; want %v", back.Kept, err, rec.Kept)
	}
	sc, err := s.TokenSchedule(ctx, k)
	if err != nil || !maps.Equal(sc.Kept, rec.Kept) || !maps.Equal(sc.Authorization().Kept, rec.Kept) {
		t.Errorf("schedule kept %v, %v; want %v", sc.Kept, err, rec.Kept)
	}
}

// Kept token fields are stored in the clear but authenticated: one
// changed behind the store's back (to send calls to another host) makes
// the record refused.
func attackChangedKeptField(t *testing.T, a *attacker) {
	s := a.s
	a.mustCreate(templated("ds_a", "alpha"), templated("ds_b", "beta"))
	for _, id := range []string{"ds_a", "ds_b"} {
		rec := sampleToken(2)
		rec.Kept = map[string]string{"instance_url": "https://acme.my.salesforce.com"}
		if err := s.SaveTokenRecord(ctx, datasource.SharedKey(id), rec, 1); err != nil {
			t.Fatal(err)
		}
	}
	a.edit(sealed.KindToken, "ds_a", func(r map[string]any) {
		r["kept"] = map[string]any{"instance_url": "https://" + evil}
	})
	_, err := s.TokenRecord(ctx, datasource.SharedKey("ds_a"))
	a.refused("token record", err, sealed.KindToken, "ds_a")
	_, err = s.TokenSchedule(ctx, datasource.SharedKey("ds_a"))
	a.refused("token schedule", err, sealed.KindToken, "ds_a")
	if rec, err := s.TokenRecord(ctx, datasource.SharedKey("ds_b")); err != nil || rec.Kept["instance_url"] != "https://acme.my.salesforce.com" {
		t.Errorf("the untouched record: %+v %v", rec, err)
	}
	a.notLogged(evil)
}
