package bolt

import (
	"fmt"
	"testing"
	"time"

	"github.com/grantd/grantd/datasource"
)

func TestEventsAndDeliveries(t *testing.T) {
	s := mustOpen(t)
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 5 {
		e := &datasource.Event{ID: datasource.NewEventID(t0.Add(time.Duration(i) * time.Second)), Type: datasource.EventStatusChanged,
			Time: t0.Add(time.Duration(i) * time.Second), DatasourceID: fmt.Sprint("ds_", i%2), Actor: "grantd"}
		urls := []string{"https://hooks.example/a"}
		if i == 0 {
			urls = append(urls, "https://hooks.example/b")
		}
		if err := s.AppendEvents(ctx, []*datasource.Event{e}, urls); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	// The same event again is kept once and queues nothing new.
	e0, _ := s.Event(ctx, ids[0])
	s.AppendEvents(ctx, []*datasource.Event{e0}, []string{"https://hooks.example/c"})

	all, err := s.ListEvents(ctx, datasource.EventQuery{})
	if err != nil || len(all) != 5 || all[0].ID != ids[4] || all[4].ID != ids[0] {
		t.Fatalf("list: %d events, %v", len(all), err)
	}
	ds1, _ := s.ListEvents(ctx, datasource.EventQuery{DatasourceID: "ds_1"})
	if len(ds1) != 2 {
		t.Errorf("ds_1 has %d events, want 2", len(ds1))
	}
	page, _ := s.ListEvents(ctx, datasource.EventQuery{Before: ids[3], Limit: 2})
	if len(page) != 2 || page[0].ID != ids[2] || page[1].ID != ids[1] {
		t.Errorf("page before %s: %v", ids[3], page)
	}

	// Deliveries: claimed with a lease, finished or retried.
	now := t0.Add(time.Minute)
	got, err := s.DueDeliveries(ctx, now, 30*time.Second, 100)
	if err != nil || len(got) != 6 {
		t.Fatalf("due: %d, %v", len(got), err)
	}
	if again, _ := s.DueDeliveries(ctx, now, 30*time.Second, 100); len(again) != 0 {
		t.Errorf("leased deliveries handed out again: %d", len(again))
	}
	if at, ok, _ := s.NextDelivery(ctx); !ok || !at.Equal(now.Add(30*time.Second)) {
		t.Errorf("next delivery %v %v", at, ok)
	}
	for _, d := range got[:5] {
		s.FinishDelivery(ctx, d)
	}
	last := got[5]
	last.Attempts, last.NextAt, last.LastError = 1, now.Add(time.Hour), "HTTP 500"
	s.RetryDelivery(ctx, last)
	if at, ok, _ := s.NextDelivery(ctx); !ok || !at.Equal(now.Add(time.Hour)) {
		t.Errorf("after retry: next %v %v", at, ok)
	}
	if due, _ := s.DueDeliveries(ctx, now.Add(time.Hour), time.Minute, 100); len(due) != 1 || due[0].Attempts != 1 || due[0].LastError != "HTTP 500" {
		t.Errorf("retried delivery: %+v", due)
	}
}

func TestEventsAreCapped(t *testing.T) {
	const max = 25
	e := newEnv(t)
	s, err := Open(e.path(), e.ks, &Options{MaxEvents: max})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Now()
	var first string
	for i := range max + 10 {
		e := &datasource.Event{ID: datasource.NewEventID(t0.Add(time.Duration(i))), Type: datasource.EventUpdated, Time: t0, DatasourceID: "ds"}
		if i == 0 {
			first = e.ID
		}
		if err := s.AppendEvents(ctx, []*datasource.Event{e}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Event(ctx, first); err == nil {
		t.Error("the oldest event was not dropped")
	}
	n := 0
	for before := ""; ; {
		page, _ := s.ListEvents(ctx, datasource.EventQuery{Before: before, Limit: 7})
		if len(page) == 0 {
			break
		}
		n += len(page)
		before = page[len(page)-1].ID
	}
	if n != max {
		t.Errorf("%d events kept, want %d", n, max)
	}
}
