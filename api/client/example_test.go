package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/grantd/grantd/api"
	"github.com/grantd/grantd/api/client"
)

// Find looks a datasource up by id or by name, in any case; a program maps
// grantd's refusals by their HTTP status.
func ExampleClient_Find() {
	// A stand-in for grantd with one datasource; its admin token is "tok".
	grantd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(api.Problem{Title: "Unauthorized", Status: http.StatusUnauthorized})
			return
		}
		json.NewEncoder(w).Encode(api.DatasourceList{Datasources: []api.DatasourceView{{ID: "ds_1", Name: "Billing"}}})
	}))
	defer grantd.Close()
	ctx := context.Background()

	d, err := client.New(grantd.URL, "tok").Find(ctx, "billing")
	fmt.Println(d.ID, d.Name, err)

	_, err = client.New(grantd.URL, "tok").Find(ctx, "payroll")
	fmt.Println(errors.Is(err, client.ErrNotFound))

	_, err = client.New(grantd.URL, "wrong").Find(ctx, "billing")
	var p *api.Problem
	if errors.As(err, &p) && p.Status == http.StatusUnauthorized {
		fmt.Println("the token was refused")
	}
	// Output:
	// ds_1 Billing <nil>
	// true
	// the token was refused
}
