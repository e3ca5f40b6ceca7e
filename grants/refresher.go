package grants

import (
	"container/heap"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/grantd/grantd/datasource"
)

// refresher is the background scheduler: a min-heap of (when, datasource)
// and one timer set to the earliest entry. Nothing scans the datasources:
// each is planned when its record changes (Engine.plan) and worked on by a
// bounded pool of workers when due. Work goes through the same
// single-flight as callers, so a refresh and a proxied call never make
// two token requests.
type refresher struct {
	e  *Engine
	do func(ctx context.Context, it item) // the work of a due item

	mu  sync.Mutex // guards h and idx
	h   schedule
	idx map[datasource.Key]*item

	wake chan struct{} // buffered(1): the earliest entry changed
	work chan item
	wg   sync.WaitGroup // the loop and the workers
}

type item struct {
	key   datasource.Key
	at    time.Time
	gen   uint64 // generation the plan was made for
	index int
}

// newRefresher returns a scheduler that runs do for each item when due.
// The engine has two: token refreshes (Engine.background) and health
// checks (Engine.healthDue).
func newRefresher(e *Engine, do func(ctx context.Context, it item)) *refresher {
	return &refresher{e: e, do: do, idx: map[datasource.Key]*item{}, wake: make(chan struct{}, 1), work: make(chan item)}
}

// schedule plans work on id at at, replacing any earlier plan.
func (r *refresher) schedule(k datasource.Key, at time.Time, gen uint64) {
	r.mu.Lock()
	if it, ok := r.idx[k]; ok {
		it.at, it.gen = at, gen
		heap.Fix(&r.h, it.index)
	} else {
		it := &item{key: k, at: at, gen: gen}
		heap.Push(&r.h, it)
		r.idx[k] = it
	}
	first := r.h[0].key == k
	r.mu.Unlock()
	if first {
		r.poke()
	}
}

func (r *refresher) unschedule(k datasource.Key) {
	r.mu.Lock()
	if it, ok := r.idx[k]; ok {
		heap.Remove(&r.h, it.index)
		delete(r.idx, k)
	}
	r.mu.Unlock()
}

// planned returns the plan for id, for tests and diagnostics.
func (r *refresher) planned(k datasource.Key) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if it, ok := r.idx[k]; ok {
		return it.at, true
	}
	return time.Time{}, false
}

// keysOf returns the planned keys of datasource id: its shared key and its
// connections'. It walks every plan; use it for rare work (a datasource
// deleted or changed), never per request.
func (r *refresher) keysOf(id string) []datasource.Key {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []datasource.Key
	for k := range r.idx {
		if k.Datasource == id {
			out = append(out, k)
		}
	}
	return out
}

// Len returns how many datasources are planned.
func (r *refresher) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.h)
}

func (r *refresher) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *refresher) start(ctx context.Context, workers int) {
	r.wg.Add(1 + workers)
	go r.loop(ctx)
	for range workers {
		go r.worker(ctx)
	}
}

func (r *refresher) wait() { r.wg.Wait() }

func (r *refresher) loop(ctx context.Context) {
	defer r.wg.Done()
	timer := r.e.clock.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := r.e.clock.Now()
		r.mu.Lock()
		var due []item
		for len(r.h) > 0 && !r.h[0].at.After(now) && len(due) < 1024 {
			it := heap.Pop(&r.h).(*item)
			delete(r.idx, it.key)
			due = append(due, *it)
		}
		wait := time.Hour
		if len(r.h) > 0 {
			wait = r.h[0].at.Sub(now)
		}
		r.mu.Unlock()
		for _, it := range due {
			select {
			case r.work <- it:
			case <-ctx.Done():
				return
			}
		}
		if len(due) > 0 {
			continue // time has passed while dispatching
		}
		timer.Reset(wait)
		select {
		case <-timer.C():
		case <-r.wake:
		case <-ctx.Done():
			return
		}
	}
}

func (r *refresher) worker(ctx context.Context) {
	defer r.wg.Done()
	for {
		select {
		case it := <-r.work:
			r.do(ctx, it)
		case <-ctx.Done():
			return
		}
	}
}

// background is one scheduled piece of work. Its outcome re-plans the
// datasource (afterRecord); when nothing changed, the plan is made from the
// stored record again.
func (e *Engine) background(ctx context.Context, it item) {
	_, err := e.obtain(ctx, it.key, wantDue, it.gen)
	if errors.Is(err, ErrNoTokens) {
		e.recheckStatic(ctx, it.key) // planned at start: a reference that failed
		return
	}
	if err == nil || ctx.Err() != nil {
		return
	}
	if _, planned := e.sched.planned(it.key); planned {
		return // the failure path planned a retry
	}
	// Not re-planned (the datasource is gone, or the store failed): try
	// the store's view once more, so a store hiccup does not stop refreshes.
	sc, err := e.store.TokenSchedule(ctx, it.key)
	if errors.Is(err, datasource.ErrNotFound) {
		return
	}
	if err != nil {
		e.sched.schedule(it.key, e.clock.Now().Add(e.backoff(1, 0)), it.gen)
		return
	}
	e.replan(it.key, sc)
	// Never straight back to work on failure: that would spin.
	if at, ok := e.sched.planned(it.key); ok && !at.After(e.clock.Now()) {
		e.sched.schedule(it.key, e.clock.Now().Add(e.backoff(1, 0)), it.gen)
	}
}

// schedule is a min-heap of items by time.
type schedule []*item

func (s schedule) Len() int           { return len(s) }
func (s schedule) Less(i, j int) bool { return s[i].at.Before(s[j].at) }
func (s schedule) Swap(i, j int) {
	s[i], s[j] = s[j], s[i]
	s[i].index = i
	s[j].index = j
}
func (s *schedule) Push(x any) {
	it := x.(*item)
	it.index = len(*s)
	*s = append(*s, it)
}
func (s *schedule) Pop() any {
	old := *s
	n := len(old)
	it := old[n-1]
	old[n-1] = nil
	*s = old[:n-1]
	return it
}
