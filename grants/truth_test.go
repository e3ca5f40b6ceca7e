package grants_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/datasource/bolt"
	"github.com/grantd/grantd/grants"
)

// TestShortTokensKeepTheirTruth: the minimum refresh interval clamps the
// schedule, never the expiry. A 3-second token is recorded as expiring
// after 3 seconds, is not handed out after its skew, and a token past its
// expiry is not "authorized" even when no failure was recorded.
func TestShortTokensKeepTheirTruth(t *testing.T) {
	te := newTokenEndpoint(t)
	te.set(jsonAnswer(200, `{"access_token":"short-lived","token_type":"bearer","expires_in":3}`))
	f := newFixture(t, fixtureOptions{})
	d := f.create(te.datasource())
	r := f.record(d.ID)
	if want := epoch.Add(3 * time.Second); !r.Expiry.Equal(want) {
		t.Fatalf("expiry %v, want the token's own %v", r.Expiry, want)
	}
	if at, ok := f.engine.Planned(d.ID); !ok || at.Before(epoch.Add(time.Second)) || !at.Before(epoch.Add(3*time.Second)) {
		t.Fatalf("next refresh of a 3 s token planned at %v (%v): not between the minimum interval and its expiry", at, ok)
	}
	k := datasource.SharedKey(d.ID)
	tok, err := f.engine.Token(ctx, k)
	if err != nil || tok.Generation != 1 {
		t.Fatalf("token: %v %v", tok.Generation, err)
	}
	// The refresher renews it before it expires.
	f.clock.Advance(2500 * time.Millisecond)
	f.waitFor("the refresh of the 3 s token", func() bool { return f.record(d.ID).Generation == 2 })
	tok, err = f.engine.Token(ctx, k)
	if err != nil || tok.Generation != 2 || !f.clock.Now().Before(tok.Expiry) {
		t.Fatalf("token after the refresh: generation %d, expiry %v, err %v", tok.Generation, tok.Expiry, err)
	}
	// A record whose token has expired with no failure recorded (the
	// store could not take the failure, or nobody refreshed it) is not
	// "authorized".
	rec := *f.record(d.ID)
	rec.Generation, rec.Expiry = 3, f.clock.Now().Add(-time.Second)
	if err := f.store.SaveTokenRecord(ctx, k, &rec, 2); err != nil {
		t.Fatal(err)
	}
	a := f.status(d.ID)
	if a.Status != datasource.StatusError || !strings.Contains(a.LastError, "expired") {
		t.Fatalf("status of an expired token: %s %q", a.Status, a.LastError)
	}

	// A token born expired (its JWT exp is in the past) is an error for
	// the caller whose request brought it, never a token to use.
	te.set(jsonAnswer(200, `{"access_token":"`+makeJWT(epoch.Unix())+`","token_type":"bearer"}`))
	f.engine.TokenStored(ctx, k) // generation 3, expired: the next caller asks
	_, err = f.engine.Token(ctx, k)
	var tErr *grants.TokenError
	if !errors.As(err, &tErr) || !strings.Contains(tErr.Reason, "already expired") {
		t.Fatalf("a born-expired token: %v", err)
	}
}

// blockingLocker is a grants.Locker whose Lock calls wait until the test
// lets them through: it stands in for another replica holding the lock.
type blockingLocker struct {
	mu      sync.Mutex
	hold    bool
	waiting chan struct{}
	release chan struct{}
}

func (l *blockingLocker) Lock(ctx context.Context, id string) (func(), error) {
	l.mu.Lock()
	hold := l.hold
	l.mu.Unlock()
	if hold {
		l.waiting <- struct{}{}
		select {
		case <-l.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return func() {}, nil
}

// TestJoinerNeverGetsAnExpiredToken: a caller that joins a token request
// started for another purpose (the refresher's, which settles for
// whatever another replica stored) gets a fresh token or an error, never
// an expired one. In the field, callers were handed a token 16 s past
// its expiry.
func TestJoinerNeverGetsAnExpiredToken(t *testing.T) {
	te := newTokenEndpoint(t)
	te.set(jsonAnswer(200, `{"access_token":"fresh-one","token_type":"bearer","expires_in":60}`))
	lk := &blockingLocker{waiting: make(chan struct{}), release: make(chan struct{})}
	f := newFixture(t, fixtureOptions{engine: grants.Options{Locker: lk}})
	d := f.create(te.datasource())
	k := datasource.SharedKey(d.ID)
	if tok, err := f.engine.Token(ctx, k); err != nil || tok.Generation != 1 {
		t.Fatalf("first token: %v", err)
	}

	// The refresher's turn comes while "another replica" holds the lock.
	lk.mu.Lock()
	lk.hold = true
	lk.mu.Unlock()
	at, _ := f.engine.Planned(d.ID)
	f.clock.Set(at)
	<-lk.waiting
	lk.mu.Lock()
	lk.hold = false
	lk.mu.Unlock()
	// That replica stores a token which has expired by the time the lock
	// is free (it could not hand it out either).
	rec := *f.record(d.ID)
	rec.Generation = 2
	rec.Expiry = at.Add(time.Second)
	rec.LastRefreshedAt = at
	if err := f.store.SaveTokenRecord(ctx, k, &rec, 1); err != nil {
		t.Fatal(err)
	}
	f.clock.Set(epoch.Add(61 * time.Second)) // generation 1 has expired too

	got := make(chan error, 1)
	var tok grants.AccessToken
	go func() {
		var err error
		tok, err = f.engine.Token(ctx, k) // joins the refresher's flight
		got <- err
	}()
	// The refresher's own obtain waits on the flight too: 2 = it + the caller.
	f.waitFor("the caller to join the flight", func() bool { return f.engine.Waiting(k) == 2 })
	close(lk.release)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if !f.clock.Now().Before(tok.Expiry) || tok.Generation != 3 {
		t.Fatalf("caller got generation %d expiring %v at %v", tok.Generation, tok.Expiry, f.clock.Now())
	}
}

// readCounting is a bbolt store that counts the reads a caller's token
// lookup could make.
type readCounting struct {
	*bolt.Store
	reads atomic.Int64
}

func (s *readCounting) Datasource(ctx context.Context, id string) (*datasource.Datasource, error) {
	s.reads.Add(1)
	return s.Store.Datasource(ctx, id)
}

func (s *readCounting) TokenRecord(ctx context.Context, k datasource.Key) (*datasource.TokenRecord, error) {
	s.reads.Add(1)
	return s.Store.TokenRecord(ctx, k)
}

// TestAnotherReplicasTokenIsInstalledInPlace: when another replica stores
// a new token (a watch reports it), the cached entry takes it in place and
// callers are served it from memory. In the field every such change sent
// the next call of every replica to etcd, so one hung member stalled them
// all.
func TestAnotherReplicasTokenIsInstalledInPlace(t *testing.T) {
	te := newTokenEndpoint(t)
	te.set(jsonAnswer(200, `{"access_token":"mine","token_type":"bearer","expires_in":600}`))
	var counting *readCounting
	f := newFixture(t, fixtureOptions{store: func(b *bolt.Store) grants.Store {
		counting = &readCounting{Store: b}
		return counting
	}})
	d := f.create(te.datasource())
	k := datasource.SharedKey(d.ID)
	if _, err := f.engine.Token(ctx, k); err != nil {
		t.Fatal(err)
	}
	// "Another replica" refreshes: generation 2 in the store.
	rec := *f.record(d.ID)
	rec.Generation = 2
	rec.AccessToken = datasource.NewSecret("theirs")
	rec.Expiry = epoch.Add(20 * time.Minute)
	if err := f.store.SaveTokenRecord(ctx, k, &rec, 1); err != nil {
		t.Fatal(err)
	}
	if err := f.engine.TokenStored(ctx, k); err != nil {
		t.Fatal(err)
	}
	before := counting.reads.Load()
	for range 100 {
		tok, err := f.engine.Token(ctx, k)
		if err != nil || tok.Generation != 2 || tok.Value().Reveal() != "theirs" {
			t.Fatalf("after another replica's refresh: generation %d, %v", tok.Generation, err)
		}
	}
	if n := counting.reads.Load() - before; n != 0 {
		t.Fatalf("callers made %d store reads for a token held in memory", n)
	}
	if te.requests() != 1 {
		t.Fatalf("%d token requests: another replica's token was not used", te.requests())
	}
	// The next one is taken in as well.
	rec.Generation = 3
	rec.AccessToken = datasource.NewSecret("newest")
	if err := f.store.SaveTokenRecord(ctx, k, &rec, 2); err != nil {
		t.Fatal(err)
	}
	f.engine.TokenStored(ctx, k)
	if tok, _ := f.engine.Token(ctx, k); tok.Generation != 3 {
		t.Fatalf("generation %d after the third record", tok.Generation)
	}
}

// failingLocker fails every Lock, as etcd did after an outage longer than
// the lease ("requested lease not found").
type failingLocker struct{}

func (failingLocker) Lock(context.Context, string) (func(), error) {
	return nil, errors.New("etcd: lock: requested lease not found")
}

// TestLockFailureIsAFailure: a token request that cannot take the
// cross-replica lock is recorded like any failed request — status with
// lastError, a backoff, a log line, the LockFailure hook — instead of
// leaving an expired token "authorized" with nothing said anywhere.
func TestLockFailureIsAFailure(t *testing.T) {
	te := newTokenEndpoint(t)
	te.set(jsonAnswer(200, `{"access_token":"a","token_type":"bearer","expires_in":60}`))
	var lockFailures atomic.Int64
	f := newFixture(t, fixtureOptions{engine: grants.Options{Locker: failingLocker{},
		Hooks: grants.Hooks{LockFailure: func(error) { lockFailures.Add(1) }}}})
	d := f.create(te.datasource())
	a := f.status(d.ID)
	if a.Status != datasource.StatusError || !strings.Contains(a.LastError, "refresh lock") {
		t.Fatalf("status: %s %q", a.Status, a.LastError)
	}
	if te.requests() != 0 {
		t.Fatalf("%d token requests without the lock", te.requests())
	}
	r := f.record(d.ID)
	// Retried within a second: the provider is not to blame, so no
	// growing backoff keeps callers out once etcd is back.
	if r.Failures != 1 || !r.RetryAt.Equal(epoch.Add(time.Second)) {
		t.Fatalf("retry not planned a second later: failures %d, retryAt %v", r.Failures, r.RetryAt)
	}
	if lockFailures.Load() != 1 {
		t.Fatalf("LockFailure hook called %d times", lockFailures.Load())
	}
	if !strings.Contains(f.logs.String(), "refresh lock") {
		t.Fatal("nothing logged")
	}
}
