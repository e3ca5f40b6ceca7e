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
		got, err := c.DecodeDatasource(d.ID, b)
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
	b, err := c.EncodeToken(datasource.SharedKey("ds_1"), r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.DecodeToken(datasource.SharedKey("ds_1"), b)
	if err != nil || !reflect.DeepEqual(got, r) {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	if _, err := c.DecodeToken(datasource.SharedKey("ds_2"), b); !errors.Is(err, datasource.ErrTampered) {
		t.Errorf("as another datasource's: %v", err)
	}
	// Tagged anew for ds_2 (which takes the keyset), the tokens inside
	// are still bound to ds_1.
	rec, _, _ := split(b)
	moved, err := c.Wrap(KindToken, "ds_2", rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DecodeToken(datasource.SharedKey("ds_2"), moved); !errors.Is(err, crypto.ErrOpen) {
		t.Errorf("ciphertexts of ds_1 in a record of ds_2: %v, want ErrOpen", err)
	}
	sc, err := c.DecodeSchedule(datasource.SharedKey("ds_1"), b)
	if err != nil || sc.Generation != 3 || !sc.HasToken || !sc.HasRefreshToken || !sc.PermanentFailure {
		t.Errorf("schedule %+v %v", sc, err)
	}
	future, _ := c.Wrap(KindToken, "ds_1", []byte(`{"v":2}`))
	if _, err := c.DecodeToken(datasource.SharedKey("ds_1"), future); !errors.Is(err, ErrFormat) {
		t.Errorf("future version: %v", err)
	}
}

// TestDatasourceRecordKeepsEveryField fails when a field is added to
// datasource.Datasource or OAuth2 but not to the record: storedAuth
// mirrors OAuth2 by hand, and a field it forgets reads back empty, or as
// the default Normalize fills in. Every field is set to a value that is
// neither zero nor a default, and must read back unchanged.
func TestDatasourceRecordKeepsEveryField(t *testing.T) {
	c := codec(t)
	var d, normalized datasource.Datasource
	fillFields(t, reflect.ValueOf(&d).Elem(), "Datasource")
	fillFields(t, reflect.ValueOf(&normalized).Elem(), "Datasource")
	// A method Normalize keeps as it is.
	d.HealthCheck.Method, normalized.HealthCheck.Method = "POST", "POST"
	normalized.Normalize()
	for _, diff := range fieldDiffs(reflect.ValueOf(d), reflect.ValueOf(normalized), "Datasource") {
		t.Fatalf("%s: the test's value is one Normalize changes; choose another", diff)
	}
	b, err := c.EncodeDatasource(&d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.DecodeDatasource(d.ID, b)
	if err != nil {
		t.Fatal(err)
	}
	for _, diff := range fieldDiffs(reflect.ValueOf(d), reflect.ValueOf(*got), "Datasource") {
		t.Errorf("%s is lost on the way through the record (is it in storedAuth, toStored and oauth2?)", diff)
	}
}

var (
	secretType = reflect.TypeFor[datasource.Secret]()
	timeType   = reflect.TypeFor[time.Time]()
)

// fillFields sets v, and every exported field within it, to a value that
// is neither the zero value nor one of Normalize's defaults. A pointer
// points at its element's zero value: nil is what means "the default"
// (HeaderPrefix, PKCE), so a non-nil zero is the value furthest from it.
// Values are derived from path, the same on every call.
func fillFields(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	switch {
	case v.Type() == secretType:
		v.Set(reflect.ValueOf(datasource.NewSecret("secret-" + path)))
		return
	case v.Type() == timeType:
		v.Set(reflect.ValueOf(time.Date(2026, 11, 23, 1, 2, len(path), 4, time.UTC)))
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				t.Fatalf("%s.%s is unexported: teach fillFields the type %s", path, f.Name, v.Type())
			}
			fillFields(t, v.Field(i), path+"."+f.Name)
		}
	case reflect.String:
		v.SetString("v-" + path)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(40 + len(path)))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(40 + len(path)))
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fillFields(t, k, path+".key")
		fillFields(t, e, path+".value")
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fillFields(t, s.Index(0), path+"[0]")
		v.Set(s)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		if v.Type().Elem().Kind() == reflect.Struct {
			fillFields(t, v.Elem(), path)
		}
	default:
		t.Fatalf("%s is a %s: teach fillFields a value for it that is neither zero nor a default", path, v.Kind())
	}
}

// fieldDiffs names the fields, down to the leaves, in which want and got
// differ.
func fieldDiffs(want, got reflect.Value, path string) []string {
	if want.Kind() == reflect.Struct && want.Type() != secretType && want.Type() != timeType {
		var out []string
		for i := range want.NumField() {
			out = append(out, fieldDiffs(want.Field(i), got.Field(i), path+"."+want.Type().Field(i).Name)...)
		}
		return out
	}
	if !reflect.DeepEqual(want.Interface(), got.Interface()) {
		return []string{path}
	}
	return nil
}

// TestKeyMaterialSealed checks that private keys and service-account files
// are sealed like the client secret, each under its own field name, and
// that a record written before they existed still reads.
func TestKeyMaterialSealed(t *testing.T) {
	c := codec(t)
	d := &datasource.Datasource{ID: "ds_keys", Name: "k", URL: "https://k.example", Auth: datasource.OAuth2{
		GrantType: datasource.JWTBearer, AccessTokenURL: "https://id.example/token", ClientID: "sa@example",
		PrivateKey: datasource.NewSecret("PRIVATE-KEY-PEM"), ServiceAccountJSON: datasource.NewSecret(`{"private_key":"SA-KEY"}`),
		UpstreamPrivateKey: datasource.NewSecret("UPSTREAM-KEY-PEM"), ClientCertificate: "CERT", KeyID: "kid-1", Subject: "alice@example"}}
	d.Normalize()
	b, err := c.EncodeDatasource(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{"PRIVATE-KEY-PEM", "SA-KEY", "UPSTREAM-KEY-PEM"} {
		if bytes.Contains(b, []byte(leak)) {
			t.Errorf("%s in the record: %s", leak, b)
		}
	}
	got, err := c.DecodeDatasource(d.ID, b)
	if err != nil || !reflect.DeepEqual(got, d) {
		t.Fatalf("round trip: %v\n got %#v\nwant %#v", err, got, d)
	}
	// The private key's ciphertext moved into the upstream key's field
	// (and the record authenticated again, as by someone holding the
	// record key) does not open: the associated data names the field.
	inner, err := c.Unwrap(KindDatasource, d.ID, b)
	if err != nil {
		t.Fatal(err)
	}
	swapped := bytes.Replace(inner, []byte(`"sealedUpstreamPrivateKey"`), []byte(`"x"`), 1)
	swapped = bytes.Replace(swapped, []byte(`"sealedPrivateKey"`), []byte(`"sealedUpstreamPrivateKey"`), 1)
	if rewrapped, err := c.Wrap(KindDatasource, d.ID, swapped); err != nil {
		t.Fatal(err)
	} else if _, err := c.DecodeDatasource(d.ID, rewrapped); !errors.Is(err, crypto.ErrOpen) {
		t.Errorf("a private key moved to another field: %v", err)
	}

	old := []byte(`{"v":1,"id":"ds_old","name":"o","url":"https://o.example","auth":{"grantType":"client_credentials","accessTokenUrl":"https://id.example/token","clientId":"c"},"createdAt":"2026-01-01T00:00:00Z","updatedAt":"2026-01-01T00:00:00Z"}`)
	oldWrapped, err := c.Wrap(KindDatasource, "ds_old", old)
	if err != nil {
		t.Fatal(err)
	}
	od, err := c.DecodeDatasource("ds_old", oldWrapped)
	if err != nil || !od.Auth.PrivateKey.IsZero() || od.Auth.ClientCertificate != "" {
		t.Errorf("a record from before key material: %+v %v", od, err)
	}
}
