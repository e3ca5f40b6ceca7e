package timeline_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/grants/grantstest"
	"github.com/grantd/grantd/timeline"
)

func TestCallsPerMinute(t *testing.T) {
	clock := grantstest.NewClock(time.Date(2026, 11, 30, 12, 0, 30, 0, time.UTC))
	r := timeline.New(clock.Now)
	k := datasource.Key{Datasource: "ds_1", EndUser: "alice"}
	// Minute 12:00: 100 calls, 1 ms, one failed. Minute 12:01: 10 calls,
	// 9 fast and one of 3 s.
	for i := range 100 {
		r.Call(k, clock.Now(), time.Millisecond, i == 7)
	}
	clock.Advance(time.Minute)
	for range 9 {
		r.Call(k, clock.Now(), 100*time.Microsecond, false)
	}
	r.Call(k, clock.Now(), 3*time.Second, false)
	s := r.Snapshot(k)
	if len(s.Minutes) != 60 {
		t.Fatalf("%d minutes", len(s.Minutes))
	}
	last, prev := s.Minutes[59], s.Minutes[58]
	if !last.Start.Equal(time.Date(2026, 11, 30, 12, 1, 0, 0, time.UTC)) || last.Calls != 10 || last.Errors != 0 || last.P50Ms != 0.125 || last.P99Ms != 4096 {
		t.Errorf("12:01: %+v", last)
	}
	if prev.Calls != 100 || prev.Errors != 1 || prev.P50Ms != 1 || prev.P99Ms != 1 {
		t.Errorf("12:00: %+v", prev)
	}
	if s.Minutes[0].Calls != 0 {
		t.Errorf("an hour ago: %+v", s.Minutes[0])
	}
	// An hour later the slot of 12:01 holds 13:01, not the old calls.
	clock.Advance(time.Hour)
	r.Call(k, clock.Now(), time.Millisecond, false)
	s = r.Snapshot(k)
	if got := s.Minutes[59]; got.Calls != 1 || got.P99Ms != 1 {
		t.Errorf("13:01: %+v", got)
	}
	if got := s.Minutes[58]; got.Calls != 0 {
		t.Errorf("13:00 shows the calls of 12:00: %+v", got)
	}
	// Another key has its own.
	if s := r.Snapshot(datasource.Key{Datasource: "ds_1", EndUser: "bob"}); s.Minutes[59].Calls != 0 || len(s.Tokens) != 0 {
		t.Errorf("bob: %+v", s.Minutes[59])
	}
}

func TestTokenEventsBounded(t *testing.T) {
	clock := grantstest.NewClock(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	r := timeline.New(clock.Now)
	k := datasource.SharedKey("ds_1")
	for i := range timeline.TokenEvents + 5 {
		r.Token(k, timeline.TokenEvent{Kind: timeline.Refreshed, At: clock.Now().Add(time.Duration(i) * time.Minute)})
	}
	s := r.Snapshot(k)
	if len(s.Tokens) != timeline.TokenEvents || !s.Tokens[0].At.Equal(clock.Now().Add(5*time.Minute)) {
		t.Fatalf("%d events, first at %v", len(s.Tokens), s.Tokens[0].At)
	}
	r.Forget(k)
	if s := r.Snapshot(k); len(s.Tokens) != 0 {
		t.Fatal("forgotten key still has events")
	}
}

// TestKeysBounded: more keys than MaxKeys keep at most MaxKeys, the most
// recently touched ones.
func TestKeysBounded(t *testing.T) {
	clock := grantstest.NewClock(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	r := timeline.New(clock.Now)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range timeline.MaxKeys {
				r.Token(datasource.SharedKey(fmt.Sprintf("ds_%d_%d", w, i)), timeline.TokenEvent{Kind: timeline.Obtained})
			}
		}()
	}
	wg.Wait()
	clock.Advance(time.Minute)
	fresh := datasource.SharedKey("ds_fresh")
	r.Token(fresh, timeline.TokenEvent{Kind: timeline.Obtained})
	kept := 0
	for w := range 4 {
		for i := range timeline.MaxKeys {
			if len(r.Snapshot(datasource.SharedKey(fmt.Sprintf("ds_%d_%d", w, i))).Tokens) > 0 {
				kept++
			}
		}
	}
	if kept > timeline.MaxKeys || len(r.Snapshot(fresh).Tokens) != 1 {
		t.Fatalf("kept %d of %d keys (max %d); the freshest kept: %v", kept, 4*timeline.MaxKeys, timeline.MaxKeys, len(r.Snapshot(fresh).Tokens) == 1)
	}
}

func BenchmarkCall(b *testing.B) {
	r := timeline.New(nil)
	k := datasource.SharedKey("ds_1")
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Call(k, time.Now(), time.Millisecond, false)
		}
	})
}
