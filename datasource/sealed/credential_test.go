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

// TestStaticCredentialsSealed: the credentials of the other auth types are
// sealed in the datasource record, each under its own field, and an end
// user's credential on a token record is sealed as a whole under that
// record: never in clear, never movable to another connection, and the
// schedule view tells it is there without opening it.
func TestStaticCredentialsSealed(t *testing.T) {
	c := codec(t)
	now := time.Date(2026, 11, 23, 1, 2, 3, 0, time.UTC)
	d := &datasource.Datasource{ID: "ds_aws", Name: "aws", URL: "https://execute-api.example", CreatedAt: now, UpdatedAt: now,
		Auth: datasource.OAuth2{Type: datasource.AuthAWSSigV4, AccessKeyID: datasource.NewSecret("AKIDSEALEDTEST"),
			SecretAccessKey: datasource.NewSecret("SECRET-ACCESS-KEY"), SessionToken: datasource.NewSecret("SESSION-TOKEN"),
			Region: "eu-west-1", Service: "execute-api"}}
	d.Normalize()
	b, err := c.EncodeDatasource(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{"AKIDSEALEDTEST", "SECRET-ACCESS-KEY", "SESSION-TOKEN"} {
		if bytes.Contains(b, []byte(leak)) {
			t.Errorf("%s in the record: %s", leak, b)
		}
	}
	got, err := c.DecodeDatasource(d.ID, b)
	if err != nil || !reflect.DeepEqual(got, d) {
		t.Fatalf("round trip: %v\n got %#v\nwant %#v", err, got, d)
	}
	h, err := c.DatasourceHead(d.ID, b)
	if err != nil || h.AuthType != datasource.AuthAWSSigV4 {
		t.Errorf("head: %+v %v", h, err)
	}
	// An OAuth 2.0 record does not name its type: records written before
	// auth types existed are byte for byte what they were.
	o := &datasource.Datasource{ID: "ds_o", Name: "o", URL: "https://o.example", Auth: datasource.OAuth2{GrantType: datasource.ClientCredentials,
		AccessTokenURL: "https://id.example/token", ClientID: "c", ClientSecret: datasource.NewSecret("s")}}
	o.Normalize()
	ob, _ := c.EncodeDatasource(o)
	if inner, _ := c.Unwrap(KindDatasource, o.ID, ob); bytes.Contains(inner, []byte(`"type"`)) {
		t.Errorf("an OAuth 2.0 record names its type: %s", inner)
	}
	var sc datasource.Schedule
	oh, _ := c.DatasourceHead(o.ID, ob)
	oh.Fill(&sc)
	if sc.AuthType != datasource.AuthOAuth2 {
		t.Errorf("an OAuth 2.0 record's schedule says %q", sc.AuthType)
	}

	alice := datasource.Key{Datasource: "ds_k", EndUser: "alice"}
	bob := datasource.Key{Datasource: "ds_k", EndUser: "bob"}
	rec := &datasource.TokenRecord{Generation: 1, Status: datasource.StatusAuthorized, LastRefreshedAt: now,
		Credential: datasource.Credential{Username: "alice", Password: datasource.NewSecret("ALICE-PASSWORD")}}
	tb, err := c.EncodeToken(alice, rec)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(tb, []byte("ALICE-PASSWORD")) || bytes.Contains(tb, []byte(`"alice"`)) {
		t.Errorf("the end user's credential in clear: %s", tb)
	}
	back, err := c.DecodeToken(alice, tb)
	if err != nil || !reflect.DeepEqual(back, rec) {
		t.Fatalf("token round trip: %v\n got %#v\nwant %#v", err, back, rec)
	}
	sched, err := c.DecodeSchedule(alice, tb)
	if err != nil || !sched.HasCredential || sched.HasToken {
		t.Errorf("schedule: %+v %v", sched, err)
	}
	// Alice's sealed credential in Bob's record, authenticated again as by
	// someone holding the record key, does not open.
	inner, err := c.Unwrap(KindToken, alice.String(), tb)
	if err != nil {
		t.Fatal(err)
	}
	rewrapped, err := c.Wrap(KindToken, bob.String(), inner)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DecodeToken(bob, rewrapped); !errors.Is(err, crypto.ErrOpen) {
		t.Errorf("a credential moved to another connection: %v", err)
	}
	// Unchanged, the record itself does not authenticate under Bob's key.
	if _, err := c.DecodeToken(bob, tb); err == nil {
		t.Error("alice's record read as bob's")
	}
}
