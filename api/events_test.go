package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/grants/grantstest"
)

type eventJSON struct {
	ID, Type, DatasourceID, DatasourceName, Actor, Status, PreviousStatus, Detail string
}

// events lists the events of query until want accepts them: events are
// written by the hub's own goroutine after the request that caused them
// is answered, so it reads again each time the hub stores a batch.
func (h *harness) events(query string, want func([]eventJSON) bool) []eventJSON {
	h.t.Helper()
	hang := time.After(10 * time.Second) // a guard, not a wait: each pass waits for a write
	for {
		code, b, _ := h.do("GET", "/api/v1/events"+query, nil)
		if code != 200 {
			h.t.Fatalf("events: %d %s", code, b)
		}
		got := decode[struct{ Events []eventJSON }](h.t, b).Events
		if want(got) {
			return got
		}
		select {
		case <-h.stored:
		case <-hang:
			h.t.Fatalf("events never matched: %+v", got)
			return nil
		}
	}
}

func TestAuditTrailAndIdempotentPut(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	p := newProvider(t, h, grantstest.ProviderOptions{})
	d := h.create(ccBody(p, "audited", "svc-secret-9f8e7d"))
	// PUT of the same thing changes nothing: no write, same updatedAt.
	_, b, _ := h.do("GET", "/api/v1/datasources/"+d.ID, nil)
	before := decode[map[string]any](t, b)
	code, b, _ := h.do("PUT", "/api/v1/datasources/"+d.ID, before)
	after := decode[map[string]any](t, b)
	if code != 200 || after["updatedAt"] != before["updatedAt"] {
		t.Fatalf("identical PUT: %d, updatedAt %v → %v", code, before["updatedAt"], after["updatedAt"])
	}
	body := ccBody(p, "audited", "${env:SOME_SECRET}")
	code, b, _ = h.do("PUT", "/api/v1/datasources/"+d.ID, body)
	v := decode[dsView](t, b)
	if code != 200 || v.Auth["clientSecretRef"] != "${env:SOME_SECRET}" || v.Auth["clientSecretSet"] != true {
		t.Fatalf("reference: %d %v", code, v.Auth)
	}
	h.do("DELETE", "/api/v1/datasources/"+d.ID, nil)

	evs := h.events("?datasource="+d.ID, func(e []eventJSON) bool { return len(e) > 0 && e[0].Type == "datasource.deleted" })
	var types []string
	for _, e := range evs {
		types = append(types, e.Type)
		if e.Type != "status.changed" && !strings.HasPrefix(e.Actor, "token:") {
			t.Errorf("%s by %q", e.Type, e.Actor)
		}
		if e.DatasourceName != "audited" {
			t.Errorf("%s names %q", e.Type, e.DatasourceName)
		}
	}
	// Newest first: deleted, updated, created (status changes are the
	// engine's own, recorded with the hook in cmd/grantd, not here).
	if strings.Join(types, ",") != "datasource.deleted,datasource.updated,datasource.created" {
		t.Errorf("events %v", types)
	}
	if code, _, _ := h.do("GET", "/api/v1/events?limit=0", nil); code != 400 {
		t.Errorf("limit=0: %d", code)
	}
	page := h.events("?limit=1", func(e []eventJSON) bool { return len(e) == 1 })
	next := h.events("?limit=1&before="+page[0].ID, func(e []eventJSON) bool { return len(e) == 1 })
	if next[0].ID >= page[0].ID {
		t.Errorf("paging went forward: %s then %s", page[0].ID, next[0].ID)
	}
}
