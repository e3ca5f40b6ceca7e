package client_test

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/grantd/grantd/api/client"
	"github.com/grantd/grantd/datasource"
)

// urlRecorder is an http.RoundTripper that keeps every URL it sends.
type urlRecorder struct {
	mu   sync.Mutex // guards urls
	urls []string
}

func (r *urlRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.urls = append(r.urls, req.URL.String())
	r.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

func (r *urlRecorder) sent() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.urls...)
}

// forbidden checks that err is a 403 forbidden Problem naming the missing
// permission or datasource.
func forbidden(t *testing.T, what string, err error, perm datasource.Permission, ds string) {
	t.Helper()
	p := problemOf(t, err)
	if p.Status != http.StatusForbidden || p.Type != "https://grantd.dev/problems/forbidden" || p.Permission != string(perm) || p.Datasource != ds {
		t.Errorf("%s: %+v; want a 403 forbidden naming permission %q, datasource %q", what, p, perm, ds)
	}
}

// TestAPIKeys: a key made with the admin token and limited to one
// datasource is a token like the admin's for New: it lists and finds only
// that datasource, gets its token, and is refused what it lacks with a
// 403 naming it; revoked (by its id, or by the key, which sends only the
// id), it is refused with a 401.
func TestAPIKeys(t *testing.T) {
	base, prov := mustServe(t)
	rec := &urlRecorder{}
	admin := client.New(base, adminToken, client.WithHTTPClient(&http.Client{Transport: rec}))
	billing, err := admin.Create(ctx, svc(prov, "Billing"))
	if err != nil {
		t.Fatal(err)
	}
	payroll, err := admin.Create(ctx, svc(prov, "Payroll"))
	if err != nil {
		t.Fatal(err)
	}

	created, err := admin.CreateAPIKey(ctx, "billing app", []datasource.Permission{datasource.PermRead, datasource.PermToken}, []string{"BILLING"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.Key, "gk_"+strings.TrimPrefix(created.ID, "key_")+"_") || created.Name != "billing app" ||
		len(created.Permissions) != 2 || len(created.Datasources) != 1 || created.Datasources[0] != "BILLING" || created.LastUsedAt != nil {
		t.Fatalf("CreateAPIKey: %+v", created.APIKeyView)
	}

	kc := client.New(base, created.Key)
	list, err := kc.List(ctx)
	if err != nil || len(list) != 1 || list[0].ID != billing.ID {
		t.Fatalf("List with a key for Billing: %+v %v", list, err)
	}
	if d, err := kc.Find(ctx, "billing"); err != nil || d.ID != billing.ID {
		t.Errorf("Find with the key: %+v %v", d, err)
	}
	if _, err := kc.Find(ctx, "Payroll"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("Find of a datasource the key does not cover: %v, want ErrNotFound", err)
	}
	if tok, err := kc.Token(ctx, billing.ID); err != nil || tok.AccessToken == "" {
		t.Errorf("Token with the key: %+v %v", tok, err)
	}
	_, err = kc.Get(ctx, payroll.ID)
	forbidden(t, "Get of another datasource", err, "", payroll.ID)
	forbidden(t, "Delete without write", kc.Delete(ctx, billing.ID), datasource.PermWrite, "")
	_, err = kc.APIKeys(ctx)
	forbidden(t, "APIKeys without admin", err, datasource.PermAdmin, "")
	_, err = kc.CreateAPIKey(ctx, "escalate", []datasource.Permission{datasource.PermAdmin}, nil)
	forbidden(t, "CreateAPIKey without admin", err, datasource.PermAdmin, "")
	forbidden(t, "RevokeAPIKey without admin", kc.RevokeAPIKey(ctx, created.ID), datasource.PermAdmin, "")

	_, err = admin.CreateAPIKey(ctx, "", []datasource.Permission{"fly"}, nil)
	if p := problemOf(t, err); p.Status != http.StatusBadRequest || len(p.Errors) != 2 {
		t.Errorf("CreateAPIKey with no name and an unknown permission: %+v", p)
	}

	keys, err := admin.APIKeys(ctx)
	if err != nil || len(keys) != 1 || keys[0].ID != created.ID || keys[0].LastUsedAt == nil {
		t.Fatalf("APIKeys: %+v %v", keys, err)
	}

	// An admin key does what the admin token does, keys included.
	boss, err := admin.CreateAPIKey(ctx, "ops", []datasource.Permission{datasource.PermAdmin}, nil)
	if err != nil {
		t.Fatal(err)
	}
	bc := client.New(base, boss.Key)
	if all, err := bc.List(ctx); err != nil || len(all) != 2 {
		t.Errorf("List with an admin key: %d %v", len(all), err)
	}
	if keys, err := bc.APIKeys(ctx); err != nil || len(keys) != 2 {
		t.Errorf("APIKeys with an admin key: %d %v", len(keys), err)
	}

	// Revoked by the key itself: only its id goes over the wire.
	if err := admin.RevokeAPIKey(ctx, created.Key); err != nil {
		t.Fatalf("RevokeAPIKey by the key: %v", err)
	}
	for _, u := range rec.sent() {
		if strings.Contains(u, created.Key) || strings.Contains(u, strings.TrimPrefix(created.Key, "gk_")) {
			t.Errorf("the key was sent in a URL: %s", u)
		}
	}
	if p := problemOf(t, admin.RevokeAPIKey(ctx, created.ID)); p.Status != http.StatusNotFound {
		t.Errorf("RevokeAPIKey again: %+v, want 404", p)
	}
	if _, err := kc.List(ctx); problemOf(t, err).Status != http.StatusUnauthorized {
		t.Errorf("List with a revoked key: %v, want 401", err)
	}
	n := len(rec.sent())
	if err := admin.RevokeAPIKey(ctx, "gk_not-a-key"); !errors.Is(err, client.ErrKeyNotID) || len(rec.sent()) != n {
		t.Errorf("RevokeAPIKey of something like a key: %v after %d requests, want ErrKeyNotID and none", err, len(rec.sent())-n)
	}
	if err := bc.RevokeAPIKey(ctx, boss.ID); err != nil {
		t.Errorf("an admin key revoking itself: %v", err)
	}
}
