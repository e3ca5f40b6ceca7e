package grants_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/grants"
	"github.com/grantd/grantd/grants/grantstest"
)

func TestBackgroundRefreshWithoutCallers(t *testing.T) {
	p := grantstest.NewProvider(t, grantstest.ProviderOptions{AccessTokenLifespan: 30 * time.Minute, JWT: true})
	p.AddClient(grantstest.Client{ID: "svc", Secret: "s", Scopes: []string{"api/read", "api/write"}})
	f := newFixture(t, fixtureOptions{})
	d := f.create(ccDatasource(p, "svc", "s"))
	first := f.record(d.ID)
	if first.Status != datasource.StatusAuthorized || first.Expiry.Before(epoch.Add(29*time.Minute)) || first.Expiry.After(epoch.Add(30*time.Minute)) {
		t.Fatalf("first token: %+v", first.Authorization())
	}
	if f.engine.CachedEntries() != 0 {
		t.Errorf("%d datasources cached though nobody called", f.engine.CachedEntries())
	}

	// Nobody calls. The refresher refreshes ahead of expiry: for a
	// 30-minute token, 5 to 7.5 minutes early.
	for round := 1; round <= 3; round++ {
		cur := f.record(d.ID)
		at, ok := f.engine.Planned(d.ID)
		lead := cur.Expiry.Sub(at)
		if !ok || lead < 5*time.Minute || lead > 7*time.Minute+30*time.Second {
			t.Fatalf("round %d: planned %v before expiry", round, lead)
		}
		f.clock.Set(at)
		f.waitFor("a background refresh", func() bool { return f.record(d.ID).Generation == cur.Generation+1 })
		if r := f.record(d.ID); !r.LastRefreshedAt.Equal(at) || r.Status != datasource.StatusAuthorized {
			t.Fatalf("round %d: %+v", round, r.Authorization())
		}
		// The record is stored before the next refresh is planned.
		f.waitFor("the next plan", func() bool { next, ok := f.engine.Planned(d.ID); return ok && next.After(at) })
	}
	if n := p.Count("client_credentials"); n != 4 {
		t.Errorf("%d token requests, want 4 (one first, three refreshes)", n)
	}
	if f.engine.CachedEntries() != 0 {
		t.Errorf("background work left %d datasources cached", f.engine.CachedEntries())
	}
}

func TestScheduleSurvivesRestart(t *testing.T) {
	p := grantstest.NewProvider(t, grantstest.ProviderOptions{})
	p.AddClient(grantstest.Client{ID: "svc", Secret: "s", Scopes: []string{"api/read", "api/write", "openid", "profile"}, RedirectURIs: []string{redirectURI}})
	f := newFixture(t, fixtureOptions{})
	cc := f.create(ccDatasource(p, "svc", "s"))
	ac := f.authorize(p, acDatasource(p, "svc", "s"))
	never := f.create(acDatasource(p, "svc", "s"))

	f.restart(fixtureOptions{})
	for _, id := range []string{cc.ID, ac.ID} {
		at, ok := f.engine.Planned(id)
		if !ok || at.Before(epoch.Add(50*time.Minute)) || !at.Before(epoch.Add(time.Hour)) {
			t.Errorf("%s: planned %v after restart", id, at)
		}
	}
	if _, ok := f.engine.Planned(never.ID); ok {
		t.Error("a never-authorized datasource is planned")
	}
	counts := f.engine.StatusCounts()
	if counts[datasource.StatusAuthorized] != 2 || counts[datasource.StatusUnauthorized] != 1 {
		t.Errorf("status counts %v", counts)
	}
	// The restarted engine refreshes on schedule.
	at, _ := f.engine.Planned(ac.ID)
	gen := f.record(ac.ID).Generation
	f.clock.Set(at)
	f.waitFor("refresh after restart", func() bool { return f.record(ac.ID).Generation == gen+1 })
}

func TestKeepAliveRefreshesIdleRefreshTokens(t *testing.T) {
	p := grantstest.NewProvider(t, grantstest.ProviderOptions{AccessTokenLifespan: 7 * 24 * time.Hour})
	p.AddClient(grantstest.Client{ID: "web", Secret: "s", Scopes: []string{"openid", "profile"}, RedirectURIs: []string{redirectURI}})
	f := newFixture(t, fixtureOptions{engine: grants.Options{KeepAlive: 24 * time.Hour}})
	d := f.authorize(p, acDatasource(p, "web", "s"))
	at, ok := f.engine.Planned(d.ID)
	if !ok || !at.Equal(epoch.Add(24*time.Hour)) {
		t.Fatalf("planned %v, want the keep-alive a day after the last refresh", at)
	}
}

func TestPlanAndBackoff(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	now := epoch
	for _, tt := range []struct {
		name     string
		sc       datasource.Schedule
		min, max time.Duration // from now
		none     bool
	}{
		{"cc without token", datasource.Schedule{GrantType: datasource.ClientCredentials}, 0, 0, false},
		{"ac without token", datasource.Schedule{GrantType: datasource.AuthorizationCode}, 0, 0, true},
		{"permanent failure", datasource.Schedule{GrantType: datasource.ClientCredentials, PermanentFailure: true}, 0, 0, true},
		{"retry", datasource.Schedule{GrantType: datasource.ClientCredentials, Failures: 2, RetryAt: now.Add(time.Minute)}, time.Minute, time.Minute, false},
		{"one hour token", datasource.Schedule{GrantType: datasource.ClientCredentials, HasToken: true, Expiry: now.Add(time.Hour), LastRefreshedAt: now},
			time.Hour - 7*time.Minute - 30*time.Second, time.Hour - 5*time.Minute, false},
		{"one minute token", datasource.Schedule{GrantType: datasource.ClientCredentials, HasToken: true, Expiry: now.Add(time.Minute), LastRefreshedAt: now},
			time.Minute - 18*time.Second, time.Minute - 12*time.Second, false},
		{"ac without refresh token", datasource.Schedule{GrantType: datasource.AuthorizationCode, HasToken: true, Expiry: now.Add(time.Hour), LastRefreshedAt: now},
			time.Hour, time.Hour, false},
	} {
		for range 50 { // jitter: every draw must be in bounds
			at, ok := f.engine.Plan(tt.sc, now)
			if ok == tt.none {
				t.Fatalf("%s: planned=%v", tt.name, ok)
			}
			if ok && (at.Sub(now) < tt.min || at.Sub(now) > tt.max) {
				t.Fatalf("%s: planned in %v, want %v–%v", tt.name, at.Sub(now), tt.min, tt.max)
			}
		}
	}
	seen := map[time.Duration]bool{}
	for failures := 1; failures <= 12; failures++ {
		for range 20 {
			d := f.engine.Backoff(failures, 0)
			base := min(2*time.Second<<(failures-1), 5*time.Minute)
			if d < base/2 || d > base {
				t.Fatalf("backoff(%d) = %v, want %v–%v", failures, d, base/2, base)
			}
			seen[d] = true
		}
	}
	if len(seen) < 100 {
		t.Errorf("backoff has little jitter: %d distinct values of 240", len(seen))
	}
	if d := f.engine.Backoff(1, 10*time.Minute); d < 10*time.Minute || d > 11*time.Minute+time.Second {
		t.Errorf("backoff with Retry-After 10m = %v", d)
	}
}

// lineTest is a refresher alone with one worker on a test clock: each
// datasource's first turn runs firstTurn, every turn is reported on worked.
type lineTest struct {
	r      *grants.Refresher
	clock  *grantstest.Clock
	worked chan string
}

func newLineTest(t0 time.Time, firstTurn func(lt *lineTest, k datasource.Key)) *lineTest {
	lt := &lineTest{clock: grantstest.NewClock(t0), worked: make(chan string, 32)}
	var first sync.Map
	lt.r = grants.NewRefresher(lt.clock, func(k datasource.Key) {
		if _, again := first.LoadOrStore(k.Datasource, true); !again {
			firstTurn(lt, k)
		}
		lt.worked <- k.Datasource
	})
	return lt
}

// start starts the worker, after the plans a test wants in its first turn.
func (lt *lineTest) start(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	lt.r.Start(ctx)
	t.Cleanup(func() { cancel(); lt.r.Wait() })
}

// wake moves the clock by d and wakes the loop at the new time.
func (lt *lineTest) wake(d time.Duration) {
	lt.clock.Advance(d)
	lt.r.Schedule(datasource.SharedKey("new"), lt.clock.Now())
	lt.r.Poke()
}

// next returns the next n datasources worked on.
func (lt *lineTest) next(n int) []string {
	var got []string
	for range n {
		got = append(got, <-lt.worked)
	}
	return got
}

// TestWorkPutBackKeepsItsPlaceInLine: work a replica left to the one
// holding its lock (Later) keeps its place in the line of due work, so
// that when that replica died with it, the survivors take it up before
// the backlog that became due meanwhile; a refresh that was done and
// planned again (Schedule) queues like new work.
func TestWorkPutBackKeepsItsPlaceInLine(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	lt := newLineTest(t0, func(lt *lineTest, k datasource.Key) {
		switch k.Datasource {
		case "left":
			lt.r.Later(k, lt.clock.Now().Add(10*time.Second))
		case "replanned":
			lt.r.Schedule(k, lt.clock.Now().Add(10*time.Second))
		}
	})
	key := datasource.SharedKey
	lt.r.Schedule(key("left"), t0)
	lt.r.Schedule(key("replanned"), t0)
	for i, id := range []string{"a", "b", "c"} {
		lt.r.Schedule(key(id), t0.Add(time.Duration(i+1)*time.Second))
	}
	lt.start(t)
	lt.next(2) // the first turns of left and replanned
	lt.wake(20 * time.Second)
	if got, want := lt.next(6), []string{"left", "a", "b", "c", "replanned", "new"}; !slices.Equal(got, want) {
		t.Errorf("worked in the order %v, want %v", got, want)
	}
}

// TestWorkPutBackGoesFirstAmongEquals: a start plans every datasource that
// needs a first token at one instant, so a whole backlog has one rank; work put back with Later
// goes before the rest of it, as it was taken first.
func TestWorkPutBackGoesFirstAmongEquals(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	busy, proceed := make(chan struct{}), make(chan struct{})
	lt := newLineTest(t0, func(lt *lineTest, k datasource.Key) {
		switch k.Datasource {
		case "left":
			lt.r.Later(k, lt.clock.Now().Add(10*time.Second))
		case "a":
			busy <- struct{}{}
			<-proceed
		}
	})
	backlog := []string{"left", "a", "b", "c", "d", "e", "f", "g", "h"}
	for _, id := range backlog {
		lt.r.Schedule(datasource.SharedKey(id), t0)
	}
	lt.start(t)
	<-busy // the worker is on a; b-h in line
	lt.wake(20 * time.Second)
	close(proceed)
	got := lt.next(len(backlog) + 2)
	// b may have been handed over before the clock moved: the second
	// turn of left comes right after a, or after b, never later.
	again := slices.Index(got[1:], "left") + 1
	rest := slices.Delete(slices.Clone(got), again, again+1)
	if again < 2 || again > 3 || !slices.Equal(rest, append(backlog, "new")) {
		t.Errorf("worked in the order %v, want left again right after a or b, the rest first come first served", got)
	}
}
