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
//
// Due work waits in a line ordered by rank, which is its due time unless
// it was put back with later, and then by when it was planned (a start
// plans every datasource that needs a first token at one now): work left
// to another replica keeps the place in line it had, so that when that
// replica died with it, a survivor takes it up before work that became
// due meanwhile.
type refresher struct {
	e  *Engine
	do func(ctx context.Context, it item) // the work of a due item

	mu      sync.Mutex // guards h, line, idx and working
	h       schedule   // planned work, by time
	line    line       // due work, by rank
	idx     map[datasource.Key]*item
	working map[datasource.Key]*item // handed to a worker, not done
	seq     uint64                   // plans made, for first come first served among equals

	wake chan struct{} // buffered(1): the earliest entry changed
	work chan item
	wg   sync.WaitGroup // the loop and the workers
}

type item struct {
	key   datasource.Key
	at    time.Time
	rank  time.Time // place in the line once due: at, or kept by later
	seq   uint64    // and among equal ranks (a start plans many at one now)
	gen   uint64    // generation the plan was made for
	index int
	due   bool // in the line, not the schedule
}

// newRefresher returns a scheduler that runs do for each item when due.
// The engine has two: token refreshes (Engine.background) and health
// checks (Engine.healthDue).
func newRefresher(e *Engine, do func(ctx context.Context, it item)) *refresher {
	return &refresher{e: e, do: do, idx: map[datasource.Key]*item{}, working: map[datasource.Key]*item{}, wake: make(chan struct{}, 1), work: make(chan item)}
}

// schedule plans work on id at at, replacing any earlier plan.
func (r *refresher) schedule(k datasource.Key, at time.Time, gen uint64) { r.plan(k, at, gen, false) }

// later plans work on id at at like schedule, but when it is put back by
// the worker doing it, it keeps the rank it had: it is work that was due,
// and looked at again, not new work.
func (r *refresher) later(k datasource.Key, at time.Time, gen uint64) { r.plan(k, at, gen, true) }

func (r *refresher) plan(k datasource.Key, at time.Time, gen uint64, keepRank bool) {
	r.mu.Lock()
	r.seq++
	rank, seq := at, r.seq
	if w, ok := r.working[k]; ok && keepRank {
		rank, seq = w.rank, w.seq
	}
	it, ok := r.idx[k]
	if ok {
		r.remove(it)
	} else {
		it = &item{key: k}
		r.idx[k] = it
	}
	it.at, it.rank, it.seq, it.gen, it.due = at, rank, seq, gen, false
	heap.Push(&r.h, it)
	first := r.h[0] == it
	r.mu.Unlock()
	if first {
		r.poke()
	}
}

// remove takes it out of the heap it is in; r.mu is held.
func (r *refresher) remove(it *item) {
	if it.due {
		heap.Remove(&r.line, it.index)
	} else {
		heap.Remove(&r.h, it.index)
	}
}

func (r *refresher) unschedule(k datasource.Key) {
	r.mu.Lock()
	if it, ok := r.idx[k]; ok {
		r.remove(it)
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
	return len(r.h) + len(r.line.schedule)
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
		for n := 0; len(r.h) > 0 && !r.h[0].at.After(now) && n < 1024; n++ {
			it := heap.Pop(&r.h).(*item)
			it.due = true
			heap.Push(&r.line, it)
		}
		var next *item
		if len(r.line.schedule) > 0 {
			next = heap.Pop(&r.line).(*item)
			delete(r.idx, next.key)
			r.working[next.key] = next
		}
		wait := time.Hour
		if len(r.h) > 0 {
			wait = r.h[0].at.Sub(now)
		}
		r.mu.Unlock()
		if next != nil {
			select {
			case r.work <- *next:
			case <-ctx.Done():
				return
			}
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
			r.mu.Lock()
			if w := r.working[it.key]; w != nil && w.seq == it.seq {
				delete(r.working, it.key)
			}
			r.mu.Unlock()
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

// schedule is a min-heap of items by time; line, of items by rank.
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

type line struct{ schedule }

func (l line) Less(i, j int) bool {
	a, b := l.schedule[i], l.schedule[j]
	return a.rank.Before(b.rank) || a.rank.Equal(b.rank) && a.seq < b.seq
}
