package grants_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/grantd/grantd/datasource"
)

// TestStaticHealthCheck: a static datasource has no token to refresh, so
// its status comes from its healthCheck (issue 22): the check goes out
// with the datasource's API key, a key the upstream now refuses makes
// the check fail with the upstream's status (and a connection.failed
// event), and a key it accepts again recovers it — on an interval, with
// no token request ever. Without a healthCheck, holding the credential
// is the check.
func TestStaticHealthCheck(t *testing.T) {
	var mu sync.Mutex
	accepted := testAPIKey
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ok := r.URL.Path == "/health" && r.Header.Get("X-Api-Key") == accepted
		mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	t.Cleanup(up.Close)
	accept := func(k string) {
		mu.Lock()
		accepted = k
		mu.Unlock()
	}
	f := newFixture(t, fixtureOptions{})
	d := staticDS("checked", up.URL, datasource.OAuth2{Type: datasource.AuthAPIKey, APIKey: datasource.NewSecret(testAPIKey),
		HeaderName: "X-Api-Key", HeaderPrefix: datasource.Ptr("")})
	d.HealthCheck = &datasource.HealthCheck{Method: "GET", Path: "/health", ExpectStatus: []int{200}, IntervalSeconds: 600}
	d = f.create(d)
	k := datasource.SharedKey(d.ID)
	health := func() *datasource.Health { return f.record(d.ID).Health }
	f.waitFor("the first check", func() bool {
		h := health()
		return h != nil && h.OK && h.Status == 200
	})

	accept("rotated-at-the-provider")
	h, err := f.engine.Check(ctx, k)
	if err != nil || h.OK || h.Status != 401 {
		t.Fatalf("a refused key: %+v %v", h, err)
	}
	if h := health(); h == nil || h.OK || h.Status != 401 {
		t.Errorf("the stored health after a failed check: %+v", h)
	}
	accept(testAPIKey)
	f.clock.Advance(601 * time.Second)
	f.poke()
	f.waitFor("the interval's check to recover", func() bool {
		h := health()
		return h != nil && h.OK
	})

	bare := f.create(staticDS("unchecked", up.URL, datasource.OAuth2{Type: datasource.AuthBearer, Token: datasource.NewSecret(testBearer)}))
	if h, err := f.engine.Check(ctx, datasource.SharedKey(bare.ID)); err != nil || !h.OK || h.Status != 0 {
		t.Errorf("without a healthCheck: %+v %v", h, err)
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	var kinds []string
	for _, e := range f.events {
		if (e.Type == datasource.EventConnectionFailed || e.Type == datasource.EventConnectionRecovered) && e.DatasourceID == d.ID {
			kinds = append(kinds, e.Type)
		}
	}
	if len(kinds) != 2 || kinds[0] != datasource.EventConnectionFailed || kinds[1] != datasource.EventConnectionRecovered {
		t.Errorf("health events %v", kinds)
	}
	if len(f.requests) != 0 {
		t.Errorf("token requests for a static datasource: %v", f.requests)
	}
}
