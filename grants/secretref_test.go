package grants_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/grants"
	"github.com/grantd/grantd/grants/grantstest"
)

// TestSecretReference: a client secret given as ${env:NAME} is stored as
// the reference and resolved at each token request; a missing variable is
// a clear error naming it, and the datasource recovers once it exists.
func TestSecretReference(t *testing.T) {
	p := grantstest.NewProvider(t, grantstest.ProviderOptions{})
	p.AddClient(grantstest.Client{ID: "svc", Secret: "resolved-secret-1234", Scopes: []string{"api/read", "api/write"}})
	var mu sync.Mutex
	env := map[string]string{}
	resolve := func(_ context.Context, ref string) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		kind, name, _, _ := datasource.ParseSecretRef(ref)
		if kind != datasource.SecretRefEnv {
			return "", fmt.Errorf("unsupported")
		}
		v, ok := env[name]
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", name)
		}
		return v, nil
	}
	f := newFixture(t, fixtureOptions{engine: grants.Options{ResolveSecret: resolve}})
	d := f.create(ccDatasource(p, "svc", "${env:VECTARA_CLIENT_SECRET}"))
	a := f.status(d.ID)
	if a.Status != datasource.StatusError || !strings.Contains(a.LastError, "VECTARA_CLIENT_SECRET is not set") {
		t.Fatalf("missing variable: %+v", a)
	}
	if p.Count("") != 0 {
		t.Fatal("a token request was made without a secret")
	}
	stored, _ := f.store.Datasource(ctx, d.ID)
	if stored.Auth.ClientSecret.Ref() != "${env:VECTARA_CLIENT_SECRET}" {
		t.Fatalf("stored secret %q is not the reference", stored.Auth.ClientSecret.Ref())
	}
	mu.Lock()
	env["VECTARA_CLIENT_SECRET"] = "resolved-secret-1234"
	mu.Unlock()
	if a, _ := f.engine.Refresh(ctx, datasource.SharedKey(d.ID)); a.Status != datasource.StatusAuthorized {
		t.Fatalf("after setting the variable: %+v", a)
	}
	f.assertNoSecrets("resolved-secret-1234")
}
