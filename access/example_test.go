package access_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/grantd/grantd/access"
	"github.com/grantd/grantd/crypto"
	"github.com/grantd/grantd/datasource/bolt"
)

// A first start on an empty store generates the admin token, to be shown
// once; the next start finds its hash.
func ExampleEnsureAdminToken() {
	dir, _ := os.MkdirTemp("", "access-example")
	defer os.RemoveAll(dir)
	keys, _ := crypto.NewKeyset()
	store, err := bolt.Open(filepath.Join(dir, "grantd.db"), keys, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()

	first, generated, _ := access.EnsureAdminToken(ctx, store, "")
	fmt.Println("first start shows:", strings.HasPrefix(generated, "gd_"), len(generated))

	again, generated, _ := access.EnsureAdminToken(ctx, store, "")
	fmt.Printf("next start shows %q, same hash: %v\n", generated, again == first)

	key, _ := access.SessionKey(ctx, store, keys)
	fmt.Println("session key bytes:", len(key))
	// Output:
	// first start shows: true 46
	// next start shows "", same hash: true
	// session key bytes: 32
}
