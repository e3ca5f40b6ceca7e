package grants_test

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/grants"
	"github.com/grantd/grantd/grants/grantstest"
)

// TestHealthChecks: a per-user datasource with a health check. Each
// connection is checked right after it is authorized, on demand and every
// interval, through the same path as proxied calls; a check that starts
// failing is a connection.failed event with reason health_check_failed,
// one that works again a connection.recovered — each with its end user.
func TestHealthChecks(t *testing.T) {
	var broken atomic.Bool
	p := grantstest.NewProvider(t, grantstest.ProviderOptions{})
	p.AddClient(grantstest.Client{ID: "web", Secret: "web-secret", Scopes: []string{"openid", "profile"}, RedirectURIs: []string{redirectURI}})
	// The datasource's API is the provider's resource API, behind a switch
	// that breaks /health.
	api := newTokenEndpoint(t)
	api.set(func(w http.ResponseWriter, r *http.Request) {
		if broken.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		req, _ := http.NewRequestWithContext(r.Context(), "GET", p.URL+"/api/health", nil)
		req.Header = r.Header
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			w.WriteHeader(502)
			return
		}
		resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
	})
	f := newFixture(t, fixtureOptions{})
	d := acDatasource(p, "web", "web-secret")
	d.URL = api.URL
	d.ConnectionMode = datasource.PerUser
	d.HealthCheck = &datasource.HealthCheck{Method: "GET", Path: "/health", ExpectStatus: []int{200}, IntervalSeconds: 600}
	d = f.create(d)
	k := datasource.Key{Datasource: d.ID, EndUser: "alice"}
	f.connect(d.ID, "alice")
	f.waitFor("the check right after authorizing", func() bool {
		c, err := f.engine.Connection(ctx, d.ID, "alice")
		return err == nil && c.Health != nil && c.Health.OK && c.Health.Status == 200
	})

	broken.Store(true)
	h, err := f.engine.Check(ctx, k)
	if err != nil || h.OK || h.Status != 503 {
		t.Fatalf("a failing check: %+v %v", h, err)
	}
	broken.Store(false)
	// The next check is planned an interval after the last one.
	f.clock.Advance(601 * time.Second)
	f.poke()
	f.waitFor("the interval's check to recover", func() bool {
		c, err := f.engine.Connection(ctx, d.ID, "alice")
		return err == nil && c.Health != nil && c.Health.OK
	})

	f.mu.Lock()
	defer f.mu.Unlock()
	var kinds []string
	for _, e := range f.events {
		if e.Type == datasource.EventConnectionFailed || e.Type == datasource.EventConnectionRecovered {
			if e.EndUserID != "alice" || e.DatasourceID != d.ID {
				t.Errorf("event without its end user: %+v", e)
			}
			kinds = append(kinds, e.Type+"/"+e.Reason)
		}
	}
	want := []string{datasource.EventConnectionFailed + "/" + datasource.ReasonHealthCheckFailed, datasource.EventConnectionRecovered + "/"}
	if len(kinds) != 2 || kinds[0] != want[0] || kinds[1] != want[1] {
		t.Errorf("events %v, want %v", kinds, want)
	}
}

// A connection's status changes become connection.failed (with the
// classified reason) and connection.recovered; a shared datasource's stay
// status.changed.
func TestStatusChangeEvents(t *testing.T) {
	for _, tt := range []struct {
		c           grants.StatusChange
		typ, reason string
	}{
		{grants.StatusChange{ID: "ds_1", From: datasource.StatusAuthorized, To: datasource.StatusError, Reason: datasource.ReasonInvalidClient}, datasource.EventStatusChanged, ""},
		{grants.StatusChange{ID: "ds_1", EndUserID: "u", From: datasource.StatusAuthorized, To: datasource.StatusNeedsReauthorization, Reason: datasource.ReasonRevoked}, datasource.EventConnectionFailed, datasource.ReasonRevoked},
		{grants.StatusChange{ID: "ds_1", EndUserID: "u", From: datasource.StatusAuthorized, To: datasource.StatusError, Reason: datasource.ReasonProviderUnavailable}, datasource.EventConnectionFailed, datasource.ReasonProviderUnavailable},
		{grants.StatusChange{ID: "ds_1", EndUserID: "u", From: datasource.StatusError, To: datasource.StatusAuthorized}, datasource.EventConnectionRecovered, ""},
		{grants.StatusChange{ID: "ds_1", EndUserID: "u", From: datasource.StatusAuthorized, To: datasource.StatusUnauthorized}, datasource.EventStatusChanged, ""},
	} {
		e := tt.c.Event()
		if e.Type != tt.typ || e.Reason != tt.reason || e.EndUserID != tt.c.EndUserID {
			t.Errorf("%+v → %s/%s, want %s/%s", tt.c, e.Type, e.Reason, tt.typ, tt.reason)
		}
	}
}
