package bolt

import (
	"testing"
	"time"

	"github.com/grantd/grantd/datasource"
)

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
