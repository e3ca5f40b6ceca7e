package grants_test

import (
	"testing"
	"time"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/grants/grantstest"
)

// TestInvalidateAdoptsStoredToken: a token written to the store by someone
// else (another replica) is served after Invalidate without a request.
func TestInvalidateAdoptsStoredToken(t *testing.T) {
	p := grantstest.NewProvider(t, grantstest.ProviderOptions{})
	p.AddClient(grantstest.Client{ID: "svc", Secret: "s", Scopes: []string{"api/read", "api/write"}})
	f := newFixture(t, fixtureOptions{})
	d := f.create(ccDatasource(p, "svc", "s"))
	tok, err := f.engine.Token(ctx, datasource.SharedKey(d.ID))
	if err != nil {
		t.Fatal(err)
	}
	rec := f.record(d.ID)
	next := *rec
	next.Generation++
	next.AccessToken = datasource.NewSecret("from-another-replica")
	next.Expiry = tok.Expiry.Add(time.Hour)
	if err := f.store.SaveTokenRecord(ctx, datasource.SharedKey(d.ID), &next, rec.Generation); err != nil {
		t.Fatal(err)
	}
	before := p.Count("")
	if err := f.engine.Invalidate(ctx, datasource.SharedKey(d.ID)); err != nil {
		t.Fatal(err)
	}
	got, err := f.engine.Token(ctx, datasource.SharedKey(d.ID))
	if err != nil || got.Value().Reveal() != "from-another-replica" || got.Generation != next.Generation {
		t.Fatalf("after Invalidate: %v %v", got, err)
	}
	if p.Count("") != before {
		t.Fatal("Invalidate caused a token request")
	}
	at, _ := f.engine.Planned(d.ID)
	if !at.After(tok.Expiry) {
		t.Errorf("refresh planned at %v, not from the adopted token", at)
	}
	f.store.DeleteDatasource(ctx, d.ID)
	if err := f.engine.Invalidate(ctx, datasource.SharedKey(d.ID)); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.engine.Planned(d.ID); ok {
		t.Error("a deleted datasource is still planned")
	}
	if _, err := f.engine.Token(ctx, datasource.SharedKey(d.ID)); err == nil {
		t.Error("a deleted datasource still has a token")
	}
}
