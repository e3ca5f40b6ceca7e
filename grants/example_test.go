package grants_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/grantd/grantd/crypto"
	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/datasource/bolt"
	"github.com/grantd/grantd/grants"
	"github.com/grantd/grantd/grants/grantstest"
	"github.com/grantd/grantd/outbound"
)

// Example shows grantd as a library: a store, an engine, a datasource, and
// an *http.Client that authenticates as it.
func Example() {
	// An authorization server to talk to (in real use: Vectara's Cognito
	// token URL, say). This one runs in-process on loopback.
	p := grantstest.NewProvider(exampleTB{}, grantstest.ProviderOptions{})
	p.AddClient(grantstest.Client{ID: "my-app", Secret: "my-secret", Scopes: []string{"api/write"}})

	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "grantd-example")
	defer os.RemoveAll(dir)

	// Secrets are sealed with a Tink keyset, itself encrypted by a master key.
	kek := crypto.GenerateMasterKey() // in production: crypto.ParseMasterKey(os.Getenv("GRANTD_MASTER_KEY"))
	keys, _, err := crypto.LoadOrCreateKeyset(crypto.KeysetFile(filepath.Join(dir, "keyset.json")), kek)
	if err != nil {
		log.Fatal(err)
	}
	store, err := bolt.Open(filepath.Join(dir, "grantd.db"), keys, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	engine := grants.New(store, grants.Options{
		Dialer: &outbound.Dialer{AllowPrivate: true}, // the example provider is on loopback
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err := engine.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer engine.Close()

	d := &datasource.Datasource{
		Name: "Example API",
		URL:  p.URL + "/api",
		Auth: datasource.OAuth2{
			GrantType:      datasource.ClientCredentials,
			AccessTokenURL: p.TokenURL(),
			ClientID:       "my-app",
			ClientSecret:   datasource.NewSecret("my-secret"),
			Scope:          "api/write",
		},
	}
	// Create validates (a *datasource.ValidationError names every bad
	// field), stores, and gets the first token at once.
	d, status, err := engine.Create(ctx, d)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("status:", status.Status)

	client, _ := engine.Client(ctx, datasource.SharedKey(d.ID))
	resp, err := client.Get(d.URL + "/whoami")
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println("upstream:", resp.Status)
	// Output:
	// status: authorized
	// upstream: 200 OK
}

// exampleTB lets the example start the test provider outside a test.
type exampleTB struct{ testing.TB }

func (exampleTB) Helper()           {}
func (exampleTB) Cleanup(func())    {}
func (exampleTB) Fatal(args ...any) { log.Fatal(args...) }
