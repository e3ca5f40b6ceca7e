package grants

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"sync"
	"time"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/outbound"
)

// Store is what the engine needs of a datasource.Store: the datasources
// it creates, changes and deletes, their token records and the pending
// authorization states.
type Store interface {
	datasource.Datasources
	datasource.Tokens
	datasource.Connections
	datasource.States
}

// Locker serialises token requests for one datasource across processes.
// A single process needs none: the engine's own single-flight suffices.
// With several replicas on one store, a distributed lock (an etcd lease)
// makes a refresh one token request across all of them.
type Locker interface {
	// Lock blocks until the caller holds the lock for id or ctx ends. The
	// returned function releases it.
	Lock(ctx context.Context, id string) (unlock func(), err error)
}

// TryLocker is a Locker that can also try: TryLock takes the lock when
// nobody holds it and otherwise answers ok false at once. The background
// refresher uses it so that replicas due for the same refresh do not queue
// behind the one making it; callers still wait (Lock).
type TryLocker interface {
	Locker
	TryLock(ctx context.Context, id string) (unlock func(), ok bool, err error)
}

// Hooks are called on events, for metrics, logs and webhooks. Any may be
// nil. They are called synchronously: keep them fast.
type Hooks struct {
	// TokenRequest is called after every request to a token endpoint:
	// request is "client_credentials", "refresh_token" or
	// "authorization_code", result is "ok", "transient" or "permanent".
	TokenRequest func(grant datasource.GrantType, request, result string, took time.Duration)
	// StatusChange is called when this engine changes the status of a
	// datasource or a connection (it wrote the record): once per change,
	// on the replica that made it.
	StatusChange func(StatusChange)
	// HealthChange is called when a health check's outcome flips (and
	// for a first check that fails): once, on the replica that ran it.
	HealthChange func(HealthChange)
	// TokenChange is called when this engine stores or reads a token
	// record that differs from the one it held for the key: a token
	// obtained or refreshed, a failed request, tokens dropped. It is
	// called from the engine's own goroutines; keep it quick.
	TokenChange func(TokenChange)
	// LockFailure is called when a token request could not take the
	// cross-replica lock (Options.Locker): no token request was made.
	LockFailure func(err error)
	// StoreFailure is called when a token record could not be stored
	// (the store is unavailable): op is "save".
	StoreFailure func(op string, err error)
}

// TokenChange is what happened to a key's token, for timelines.
type TokenChange struct {
	Key datasource.Key
	// Kind is "obtained", "refreshed", "failed" or "dropped".
	Kind string
	At   time.Time
	// ExpiresAt is the new token's expiry (obtained, refreshed).
	ExpiresAt time.Time
	// Detail is the failure (failed), never a secret.
	Detail string
}

// StatusChange describes a change of a datasource's status, or of one
// connection's (EndUserID set).
type StatusChange struct {
	ID, Name  string
	EndUserID string
	From, To  datasource.Status
	LastError string
	// Reason classifies a failure (datasource.ReasonRevoked, …); empty
	// when the new status is not a failure.
	Reason string
}

// Options configure New. The zero value works for a library user with a
// client-credentials datasource on the public internet.
type Options struct {
	// Clock defaults to the system clock.
	Clock Clock
	// Logger defaults to slog.Default(). Nothing secret is ever logged.
	Logger *slog.Logger
	// RedirectURI is grantd's callback URL, where providers send the
	// person back: the public URL + /api/v1/datasources/authorize. Needed
	// for authorization-code datasources.
	RedirectURI string
	// Dialer opens outgoing connections; default a Dialer that refuses
	// private addresses.
	Dialer *outbound.Dialer
	// TokenTimeout bounds one token request; default 15s.
	TokenTimeout time.Duration
	// Workers is the number of concurrent background refreshes; default 64.
	Workers int
	// KeepAlive refreshes idle refresh tokens at least this often so they
	// do not lapse; default 24h, negative disables.
	KeepAlive time.Duration
	// MaxBackoff caps the wait between failed attempts; default 5m.
	MaxBackoff time.Duration
	// Locker serialises refreshes across replicas; nil for one process.
	Locker Locker
	// ResolveSecret turns a client secret reference (${env:NAME},
	// ${file:/path}; see datasource.ParseSecretRef) into the secret, each
	// time one is needed. Nil refuses references. Library packages read no
	// environment: the caller decides what a reference may reach
	// (secretref.Fence.Resolve fences it). Its error names the reference
	// and why, never a value: it becomes the datasource's lastError.
	ResolveSecret func(ctx context.Context, ref string) (string, error)
	// CheckSecretRef, when set, is asked about a client secret reference
	// that Create or Update is about to store (a new or changed one): an
	// error refuses the change as a *datasource.ValidationError on
	// auth.clientSecret with the error's message. It should refuse only
	// what can never resolve under the current rules (secretref.Fence.Check),
	// not a variable or file that may appear later. ResolveSecret still
	// decides at each use.
	CheckSecretRef func(ref string) error
	Hooks          Hooks
}

// Engine obtains, stores, refreshes and applies tokens for datasources. It
// is the library entry point: create a store, create an engine, Start it,
// then use Token, Apply or Client. Safe for concurrent use.
type Engine struct {
	store  Store
	opts   Options
	clock  Clock
	log    *slog.Logger
	http   outbound.Cache[string, *http.Client] // token-endpoint clients by CA bundle
	probes outbound.Cache[string, *http.Client] // health-check clients by CA bundle
	mtls   tlsClients                           // token-endpoint clients with a client certificate, by datasource
	exch   exchanges                            // token_exchange tokens, in memory only
	disc   discovery
	sched  *refresher      // token refreshes
	health *refresher      // health checks
	ctx    context.Context // cancelled by Close; bounds background work
	cancel context.CancelFunc
	wg     sync.WaitGroup // token requests and workers in flight

	entries sync.Map // id → *entry

	mu        sync.Mutex // guards statuses, started, lastPurge
	statuses  map[datasource.Key]datasource.Status
	started   bool
	lastPurge time.Time
}

// New returns an engine on store. Call Start to run the background
// refresher, and Close when done.
func New(store Store, opts Options) *Engine {
	if opts.Clock == nil {
		opts.Clock = SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Dialer == nil {
		opts.Dialer = &outbound.Dialer{}
	}
	if opts.TokenTimeout == 0 {
		opts.TokenTimeout = 15 * time.Second
	}
	if opts.Workers == 0 {
		opts.Workers = 64
	}
	if opts.KeepAlive == 0 {
		opts.KeepAlive = 24 * time.Hour
	}
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = 5 * time.Minute
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Engine{
		store:    store,
		opts:     opts,
		clock:    opts.Clock,
		log:      opts.Logger,
		http:     outbound.Cache[string, *http.Client]{New: tokenClient(opts.Dialer, opts.TokenTimeout)},
		probes:   outbound.Cache[string, *http.Client]{New: tokenClient(opts.Dialer, 30*time.Second)},
		disc:     discovery{clock: opts.Clock},
		ctx:      ctx,
		cancel:   cancel,
		statuses: map[datasource.Key]datasource.Status{},
	}
	e.sched = newRefresher(e, e.background)
	e.health = newRefresher(e, e.healthDue)
	return e
}

// Start loads the schedule of every datasource from the store (without
// unsealing anything) and starts the background refresher. Client
// credentials datasources without a token get one right away; tokens are
// refreshed ahead of expiry. It returns once the schedule is loaded.
func (e *Engine) Start(ctx context.Context) error {
	e.mu.Lock()
	if e.started {
		e.mu.Unlock()
		return errors.New("grants: engine already started")
	}
	e.started = true
	e.mu.Unlock()
	now := e.clock.Now()
	statuses := map[datasource.Key]datasource.Status{}
	err := e.store.Schedules(ctx, func(k datasource.Key, sc datasource.Schedule) error {
		st := sc.Status
		if st == "" {
			st = datasource.StatusUnauthorized
		}
		statuses[k] = st
		if sc.LocalFailure && sc.AuthType.Static() {
			// A reference that did not resolve: read it again now
			// (background hands static keys to recheckStatic).
			e.sched.schedule(k, now, sc.Generation)
		} else if sc.LocalFailure {
			// grantd's own configuration failed it last time (the dial
			// guard, an unset variable): the configuration may have been
			// fixed for this start, so try again now.
			e.sched.schedule(k, now, sc.Generation)
		} else if at, ok := e.plan(sc, now); ok {
			e.sched.schedule(k, at, sc.Generation)
		}
		if sc.HealthCheck != nil && (sc.HasToken || sc.AuthType.Static() && sc.Status == datasource.StatusAuthorized) {
			e.planHealth(k, sc.HealthCheck, sc.Health)
		}
		return nil
	})
	if err != nil {
		return err
	}
	e.mu.Lock()
	maps.Copy(e.statuses, statuses)
	e.mu.Unlock()
	e.sched.start(e.ctx, e.opts.Workers)
	e.health.start(e.ctx, max(e.opts.Workers/8, 2))
	e.purgeStates(ctx)
	return nil
}

// Close stops the refresher and waits for token requests in flight. Their
// results are stored before Close returns.
func (e *Engine) Close() error {
	e.cancel()
	e.sched.wait()
	e.health.wait()
	e.wg.Wait()
	return nil
}

// StatusCounts returns how many shared datasources and connections are in
// each status, as the engine last saw them.
func (e *Engine) StatusCounts() map[datasource.Status]int {
	out := map[datasource.Status]int{}
	for _, s := range datasource.Statuses {
		out[s] = 0
	}
	e.mu.Lock()
	for _, s := range e.statuses {
		out[s]++
	}
	e.mu.Unlock()
	return out
}

// setStatus records the status the engine last saw. emit is true when this
// process made the change (it wrote the record), so that with several
// replicas the StatusChange hook fires once per change, on the replica
// that made it, not on every one that notices.
func (e *Engine) setStatus(k datasource.Key, name string, to datasource.Status, lastError, reason string, emit bool) {
	e.mu.Lock()
	from, ok := e.statuses[k]
	e.statuses[k] = to
	e.mu.Unlock()
	if !ok {
		from = datasource.StatusUnauthorized
	}
	if from != to && emit {
		e.log.Info("status changed", "datasource", k.Datasource, "endUser", k.EndUser, "from", from, "to", to, "lastError", lastError)
		if h := e.opts.Hooks.StatusChange; h != nil {
			h(StatusChange{ID: k.Datasource, Name: name, EndUserID: k.EndUser, From: from, To: to, LastError: lastError, Reason: reason})
		}
	}
}

// record returns the stored token record of k, nil when there is none.
func (e *Engine) record(ctx context.Context, k datasource.Key) (*datasource.TokenRecord, error) {
	rec, err := e.store.TokenRecord(ctx, k)
	if errors.Is(err, datasource.ErrNotFound) {
		return nil, nil
	}
	return rec, err
}

// httpClient returns the token-endpoint client of d (with its secrets
// resolved: a certificate's key may be a reference).
func (e *Engine) httpClient(d *datasource.Datasource) (*http.Client, error) {
	if hc, ok, err := e.certClient(d); ok {
		return hc, err
	}
	return e.http.Get(d.Auth.TLSCACert)
}

// tokenClient makes the client for token endpoints trusting a CA bundle.
func tokenClient(dialer *outbound.Dialer, timeout time.Duration) func(caPEM string) (*http.Client, error) {
	return func(caPEM string) (*http.Client, error) {
		t, err := outbound.NewTransport(outbound.TransportOptions{Dialer: dialer, CACert: caPEM})
		if err != nil {
			return nil, err
		}
		return &http.Client{
			Transport: t,
			Timeout:   timeout,
			// A token endpoint that redirects is misconfigured; following
			// it would resend credentials somewhere else.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}, nil
	}
}

// purgeStates removes expired authorization states, at most once a minute.
func (e *Engine) purgeStates(ctx context.Context) {
	now := e.clock.Now()
	e.mu.Lock()
	if now.Sub(e.lastPurge) < time.Minute {
		e.mu.Unlock()
		return
	}
	e.lastPurge = now
	e.mu.Unlock()
	if n, err := e.store.PurgeStates(ctx, now); err != nil {
		e.log.Warn("purging expired authorization states failed", "err", err)
	} else if n > 0 {
		e.log.Info("purged expired authorization states", "count", n)
	}
}
