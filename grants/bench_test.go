package grants_test

import (
	"net/http"
	"testing"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/grants"
	"github.com/grantd/grantd/grants/grantstest"
)

// benchFixture is a fixture for benchmarks: one client-credentials
// datasource with a cached token.
func benchFixture(b *testing.B, placement datasource.Placement) (*fixture, *datasource.Datasource) {
	p := grantstest.NewProvider(b, grantstest.ProviderOptions{})
	p.AddClient(grantstest.Client{ID: "svc", Secret: "s", Scopes: []string{"api/read", "api/write"}})
	f := newBenchFixture(b)
	d := ccDatasource(p, "svc", "s")
	d.Auth.TokenPlacement = placement
	d = f.create(d)
	if _, err := f.engine.Token(ctx, datasource.SharedKey(d.ID)); err != nil {
		b.Fatal(err)
	}
	return f, d
}

// BenchmarkTokenCached is the hot path of every proxied call: a fresh
// cached token. Target: 0 allocations.
func BenchmarkTokenCached(b *testing.B) {
	f, d := benchFixture(b, datasource.PlacementHeader)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := f.engine.Token(ctx, datasource.SharedKey(d.ID)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTokenCachedParallel is the same from every core at once.
func BenchmarkTokenCachedParallel(b *testing.B) {
	f, d := benchFixture(b, datasource.PlacementHeader)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.engine.Token(ctx, datasource.SharedKey(d.ID)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkApplyHeader and BenchmarkApplyQuery place a token on a request.
func BenchmarkApplyHeader(b *testing.B) { benchApply(b, datasource.PlacementHeader) }
func BenchmarkApplyQuery(b *testing.B)  { benchApply(b, datasource.PlacementQuery) }

func benchApply(b *testing.B, p datasource.Placement) {
	f, d := benchFixture(b, p)
	tok, _ := f.engine.Token(ctx, datasource.SharedKey(d.ID))
	req, _ := http.NewRequest("GET", "https://api.example.com/v1/items?page=2&size=50", nil)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		tok.Apply(req)
	}
}

// BenchmarkStateCreateConsume is one authorization-code flow's bookkeeping:
// the authorize URL (state + PKCE, sealed and stored) and the callback's
// atomic consume of the state (ending, here, in the provider's error, so
// no code exchange is timed).
func BenchmarkStateCreateConsume(b *testing.B) {
	p := grantstest.NewProvider(b, grantstest.ProviderOptions{})
	p.AddClient(grantstest.Client{ID: "web", Secret: "s", Scopes: []string{"openid", "profile"}, RedirectURIs: []string{redirectURI}})
	f := newBenchFixture(b)
	d := f.create(acDatasource(p, "web", "s"))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		raw, err := f.engine.AuthorizeURL(ctx, d.ID, grants.AuthorizeRequest{Binding: "b"})
		if err != nil {
			b.Fatal(err)
		}
		state := stateParam(raw)
		if _, err := f.engine.Callback(ctx, grants.CallbackRequest{State: state, Error: "access_denied", Binding: "b"}); err != nil {
			b.Fatal(err)
		}
	}
}
