package grants

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"time"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/provider"
)

// Create stores d as a new datasource and returns it as stored, with its
// authorization. It works on a copy of d: it normalizes it, assigns an id
// when it has none and sets createdAt and updatedAt from the engine's
// clock. A grant that needs no person (client credentials) asks for its
// first token at once, so the status says whether the configuration works;
// a failed token request is in the status, not an error.
//
// Errors: *datasource.ValidationError naming every bad field (and
// auth.clientSecret when Options.CheckSecretRef refuses its reference),
// datasource.ErrDuplicateName, or a store failure.
func (e *Engine) Create(ctx context.Context, d *datasource.Datasource) (*datasource.Datasource, datasource.Authorization, error) {
	d = d.Clone()
	if d.ID == "" {
		d.ID = datasource.NewID()
	}
	d.CreatedAt = e.now()
	d.UpdatedAt = d.CreatedAt
	if err := fillProvider(d); err != nil {
		return nil, datasource.Authorization{}, err
	}
	d.Normalize()
	if err := withErrors(d.Validate(), d.Auth.CheckCertificates(e.clock.Now())); err != nil {
		return nil, datasource.Authorization{}, err
	}
	if err := e.checkSecretRef(d, nil); err != nil {
		return nil, datasource.Authorization{}, err
	}
	if err := e.store.CreateDatasource(ctx, d); err != nil {
		return nil, datasource.Authorization{}, err
	}
	a, err := e.reconcile(ctx, d.ID, false)
	return d, a, err
}

// Change replaces a stored datasource.
type Change struct {
	// Datasource is the new configuration; its ID names the datasource to
	// replace.
	Datasource *datasource.Datasource
	// Keep names write-only fields ("auth.clientSecret"; see
	// datasource.SecretFields) to take from the stored datasource rather
	// than from Datasource, as a PUT that omits them asks.
	Keep []string
}

// Update replaces a stored datasource (see Change) and returns it as
// stored, with its authorization and whether anything changed. It works on
// a copy: createdAt stays, updatedAt comes from the engine's clock. A
// change that alters nothing writes nothing and makes no token request,
// which is what makes a declarative apply idempotent. A change of grant
// (datasource.OAuth2.SameGrant) erases the tokens in the same write; then,
// as on Create, a grant that needs no person asks for a token at once.
//
// Errors: datasource.ErrNotFound, *datasource.ValidationError (also for a
// new client secret reference Options.CheckSecretRef refuses),
// datasource.ErrDuplicateName, or a store failure.
func (e *Engine) Update(ctx context.Context, ch Change) (*datasource.Datasource, datasource.Authorization, bool, error) {
	old, err := e.store.Datasource(ctx, ch.Datasource.ID)
	if err != nil {
		return nil, datasource.Authorization{}, false, err
	}
	d := ch.Datasource.Clone()
	d.CreatedAt, d.UpdatedAt = old.CreatedAt, e.now()
	if err := d.KeepSecrets(old, ch.Keep); err != nil {
		return nil, datasource.Authorization{}, false, err
	}
	if err := fillProvider(d); err != nil {
		return nil, datasource.Authorization{}, false, err
	}
	d.Normalize()
	err = withErrors(d.Validate(), boundSecrets(old, d, ch.Keep))
	err = withErrors(err, newCertificates(old, d).CheckCertificates(e.clock.Now()))
	if err != nil {
		return nil, datasource.Authorization{}, false, err
	}
	if err := e.checkSecretRef(d, old); err != nil {
		return nil, datasource.Authorization{}, false, err
	}
	if sameDatasource(old, d) {
		a, err := e.Status(ctx, datasource.SharedKey(d.ID))
		return old, a, false, err
	}
	erased, err := e.store.UpdateDatasource(ctx, d)
	if err != nil {
		return nil, datasource.Authorization{}, false, err
	}
	a, err := e.reconcile(ctx, d.ID, erased)
	return d, a, true, err
}

// boundSecrets refuses to keep a stored secret for a token or
// authorization endpoint on another origin: whoever may edit a datasource
// could otherwise point it at their own server and collect the secret on
// the next token request. The secret must be given again.
//
// The client secret and the keys that sign for the client (privateKey,
// serviceAccountJson) are bound to the token and authorization
// endpoints; what is sent to the datasource's URL (upstreamPrivateKey,
// the credentials of the other auth types) to that URL.
func boundSecrets(old, d *datasource.Datasource, keep []string) []datasource.FieldError {
	moved := ""
	switch {
	case origin(old, old.Auth.AccessTokenURL) != origin(d, d.Auth.AccessTokenURL):
		moved = "accessTokenUrl"
	case old.Auth.AuthorizationURL != "" && origin(old, old.Auth.AuthorizationURL) != origin(d, d.Auth.AuthorizationURL):
		moved = "authorizationUrl"
	}
	urlMoved := origin(old, old.URL) != origin(d, d.URL)
	var out []datasource.FieldError
	for _, f := range keep {
		why := moved
		if datasource.SecretBoundToURL(f) {
			why = ""
			if urlMoved {
				why = "url"
			}
		}
		if why != "" && !old.SecretField(f).IsZero() {
			out = append(out, datasource.FieldError{Field: f,
				Message: "must be given again: the origin of " + why + " changed, and a stored secret does not follow a datasource to another host"})
		}
	}
	return out
}

// withErrors returns err (nil or a *datasource.ValidationError) with more
// field errors added.
func withErrors(err error, more []datasource.FieldError) error {
	if len(more) == 0 {
		return err
	}
	v := &datasource.ValidationError{}
	errors.As(err, &v)
	v.Errors = append(v.Errors, more...)
	return v
}

// newCertificates returns the certificates of d that old did not have, to
// check their validity period: one already stored is not refused again on
// every update (its expiry shows in the views), so an unchanged apply stays
// a no-op.
func newCertificates(old, d *datasource.Datasource) *datasource.OAuth2 {
	var a datasource.OAuth2
	if d.Auth.ClientCertificate != old.Auth.ClientCertificate {
		a.ClientCertificate = d.Auth.ClientCertificate
	}
	if d.Auth.UpstreamClientCertificate != old.Auth.UpstreamClientCertificate {
		a.UpstreamClientCertificate = d.Auth.UpstreamClientCertificate
	}
	return &a
}

// checkSecretRef asks Options.CheckSecretRef about each reference among
// d's write-only fields that is new: on Create, or on Update when old held
// another one in that field. A reference already stored is left to
// resolution, so that an apply that changes nothing stays a no-op after
// the fence was narrowed (the lastError says why it does not resolve).
func (e *Engine) checkSecretRef(d, old *datasource.Datasource) error {
	if e.opts.CheckSecretRef == nil {
		return nil
	}
	v := &datasource.ValidationError{}
	for _, f := range datasource.SecretFields {
		ref := d.SecretField(f).Ref()
		if ref == "" || old != nil && old.SecretField(f).Ref() == ref {
			continue
		}
		if err := e.opts.CheckSecretRef(ref); err != nil {
			v.Errors = append(v.Errors, datasource.FieldError{Field: f, Message: err.Error()})
		}
	}
	if len(v.Errors) > 0 {
		return v
	}
	return nil
}

// sameDatasource reports whether b changes nothing of a but updatedAt.
func sameDatasource(a, b *datasource.Datasource) bool {
	x, y := *a, *b
	x.UpdatedAt, y.UpdatedAt = time.Time{}, time.Time{}
	return reflect.DeepEqual(x, y)
}

// Delete removes datasource id with its tokens, connections and pending
// authorizations. It first revokes the shared tokens at the provider when
// the provider has a revocation endpoint; a provider that fails to revoke
// does not keep the datasource alive (the result says what happened
// there). Connections' tokens are revoked in the background, after the
// datasource is gone from the store.
//
// Errors: datasource.ErrNotFound, or a store failure.
func (e *Engine) Delete(ctx context.Context, id string) (*RevokeResult, error) {
	d, err := e.store.Datasource(ctx, id)
	if err != nil {
		return nil, err
	}
	res := &RevokeResult{}
	if !d.PerUser() && !d.Auth.Kind().Static() {
		res, err = e.Revoke(ctx, datasource.SharedKey(id))
		switch {
		case errors.Is(err, datasource.ErrNotFound):
			return nil, err
		case err != nil:
			e.log.Warn("revoking before delete failed", "datasource", id, "err", err)
			res = &RevokeResult{ProviderError: "revocation failed"}
		case res.ProviderError != "":
			e.log.Warn("provider refused revocation before delete", "datasource", id, "reason", res.ProviderError)
		}
	}
	held := e.connectionTokens(ctx, d)
	if err := e.store.DeleteDatasource(ctx, id); err != nil {
		return nil, err
	}
	e.forget(id)
	e.revokeInBackground(d, held)
	return res, nil
}

// Status returns the authorization of k — a shared datasource's or a
// connection's — as stored, which reflects refreshes made by other
// replicas too. It unseals nothing. For a per-user datasource's shared key
// it is "unauthorized": its tokens are its connections'.
// Errors: datasource.ErrNotFound (no such datasource or connection), or a
// store failure.
func (e *Engine) Status(ctx context.Context, k datasource.Key) (datasource.Authorization, error) {
	a, _, err := e.View(ctx, k)
	return a, err
}

// View is Status with the outcome of the last health check (nil before
// one), from one read.
func (e *Engine) View(ctx context.Context, k datasource.Key) (datasource.Authorization, *datasource.Health, error) {
	sc, err := e.store.TokenSchedule(ctx, k)
	if err != nil {
		return datasource.Authorization{}, nil, err
	}
	return e.authorization(sc), sc.Health, nil
}

// Listed is a datasource with its authorization and, for a per-user
// datasource, how many connections are in each status.
type Listed struct {
	Datasource    *datasource.Datasource
	Authorization datasource.Authorization
	Health        *datasource.Health
	Connections   map[datasource.Status]int
}

// List returns every datasource, ordered by name, with its authorization.
// Token records are read without unsealing anything.
func (e *Engine) List(ctx context.Context) ([]Listed, error) {
	list, err := e.store.ListDatasources(ctx)
	if err != nil {
		return nil, err
	}
	views := make(map[string]datasource.Schedule, len(list))
	counts := map[string]map[datasource.Status]int{}
	err = e.store.Schedules(ctx, func(k datasource.Key, sc datasource.Schedule) error {
		if k.EndUser == "" {
			views[k.Datasource] = sc
			return nil
		}
		c := counts[k.Datasource]
		if c == nil {
			c = map[datasource.Status]int{}
			counts[k.Datasource] = c
		}
		c[e.authorization(sc).Status]++
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]Listed, 0, len(list))
	for _, d := range list {
		sc, ok := views[d.ID]
		if !ok && !d.PerUser() {
			continue // created after the list was read; next time
		}
		l := Listed{Datasource: d, Authorization: e.authorization(sc), Health: sc.Health}
		if d.PerUser() {
			l.Connections = counts[d.ID]
			if l.Connections == nil {
				l.Connections = map[datasource.Status]int{}
			}
		}
		out = append(out, l)
	}
	return out, nil
}

// authorization is the public view of a record at the engine's now: a
// token that has expired during an outage is no longer "authorized".
func (e *Engine) authorization(sc datasource.Schedule) datasource.Authorization {
	a := sc.Authorization()
	if a.Status != datasource.StatusAuthorized || !sc.HasToken || e.clock.Now().Before(sc.Expiry) {
		return a
	}
	// The record says authorized, but its token has expired: it is not
	// usable, whatever was (or could not be) recorded since.
	if interactive(sc.GrantType) && !sc.HasRefreshToken {
		a.Status = datasource.StatusNeedsReauthorization
		if a.LastError == "" {
			a.LastError = "the access token expired and there is no refresh token; a person must authorize again"
		}
		return a
	}
	a.Status = datasource.StatusError
	if a.LastError == "" {
		a.LastError = "the access token expired at " + sc.Expiry.UTC().Format(time.RFC3339) + " and has not been refreshed"
	}
	return a
}

// reconcile takes in a created or changed datasource: it drops what the
// engine cached of it and its connections, re-plans its refresh and, for a
// grant that needs no person, asks for a token right away. erased says the
// change erased its tokens (the connections' too). A failed token request
// is not an error here: it is in the status.
func (e *Engine) reconcile(ctx context.Context, id string, erased bool) (datasource.Authorization, error) {
	e.forgetEntries(id)
	if erased {
		e.unscheduleConnections(id)
	}
	d, err := e.store.Datasource(ctx, id)
	if err != nil {
		return datasource.Authorization{}, err
	}
	if d.Auth.Kind().Static() {
		return e.reconcileStatic(ctx, d)
	}
	k := datasource.SharedKey(id)
	sc, err := e.store.TokenSchedule(ctx, k)
	if err != nil {
		return datasource.Authorization{}, err
	}
	a := sc.Authorization()
	e.setStatus(k, d.Name, a.Status, a.LastError, "", false)
	if !interactive(d.Auth.GrantType) && !onDemandGrant(d.Auth.GrantType) && !d.PerUser() && !sc.HasToken {
		// Errors land in the record; the status reports them.
		e.obtain(ctx, k, wantFirst, 0)
	} else {
		e.replan(k, sc)
	}
	return e.Status(ctx, k)
}

// Invalidate drops what the engine cached of k and plans its refresh again
// from the store. Call it when another process changed the datasource,
// the connection or its token record (a watch on a shared store): the next
// caller reads the new token from the store instead of making a token
// request of its own. A deleted datasource (or connection) is forgotten; a
// changed datasource (a shared key) drops its connections' cached copies
// too.
func (e *Engine) Invalidate(ctx context.Context, k datasource.Key) error {
	if k.EndUser == "" {
		e.forgetEntries(k.Datasource)
	} else {
		e.forgetEntry(k)
	}
	d, err := e.store.Datasource(ctx, k.Datasource)
	if errors.Is(err, datasource.ErrNotFound) {
		e.forget(k.Datasource)
		return nil
	}
	if err != nil {
		return err
	}
	sc, err := e.store.TokenSchedule(ctx, k)
	if errors.Is(err, datasource.ErrNotFound) {
		e.forgetKey(k)
		return nil
	}
	if err != nil {
		return err
	}
	e.noticed(k, d.Name, sc)
	return nil
}

// noticed takes in sc, k's schedule as another process stored it: the
// status it shows (that process reported the change) and the next
// refresh.
func (e *Engine) noticed(k datasource.Key, name string, sc datasource.Schedule) {
	a := e.authorization(sc)
	e.setStatus(k, name, a.Status, a.LastError, "", false)
	e.replan(k, sc)
}

// TokenStored takes in k's token record as another process stored it (a
// watch on a shared store; a refresh by another replica, say). A cached
// entry gets the new record in place, so callers go on being served from
// memory, never waiting on the store: were the entry dropped instead, every
// refresh anywhere would send the next call of every replica to the store,
// and one slow etcd member would slow them all. Without a cached entry, or
// when the record is gone, it is Invalidate.
func (e *Engine) TokenStored(ctx context.Context, k datasource.Key) error {
	v, ok := e.entries.Load(k)
	if !ok {
		return e.Invalidate(ctx, k)
	}
	en := v.(*entry)
	en.mu.Lock()
	loaded, ds := en.loaded && !en.dead, en.ds
	en.mu.Unlock()
	if !loaded {
		return e.Invalidate(ctx, k)
	}
	rec, err := e.record(ctx, k)
	if err != nil {
		// The cached token stays in service; the next change or refresh
		// reads the store again.
		return err
	}
	if rec == nil {
		return e.Invalidate(ctx, k)
	}
	en.mu.Lock()
	if en.dead || en.rec != nil && rec.Generation < en.rec.Generation {
		// Dropped meanwhile, or this process stored a newer one since
		// the read.
		en.mu.Unlock()
		return nil
	}
	e.setRecordLocked(en, rec)
	en.mu.Unlock()
	sc := scheduleOf(ds.Auth.GrantType, rec)
	sc.AuthType = ds.Auth.Kind()
	e.noticed(k, ds.Name, sc)
	return nil
}

// forget drops everything the engine holds about a deleted datasource and
// its connections.
func (e *Engine) forget(id string) {
	e.forgetEntries(id)
	e.mtls.forget(id)
	e.unscheduleConnections(id)
	e.forgetKey(datasource.SharedKey(id))
}

// forgetKey drops everything the engine holds about one key.
func (e *Engine) forgetKey(k datasource.Key) {
	e.forgetEntry(k)
	e.sched.unschedule(k)
	e.mu.Lock()
	delete(e.statuses, k)
	e.mu.Unlock()
}

// forgetEntries drops the cached entries of datasource id and of its
// connections. Only keys in use have entries, so this costs what is hot.
func (e *Engine) forgetEntries(id string) {
	e.entries.Range(func(k, _ any) bool {
		if k.(datasource.Key).Datasource == id {
			e.forgetEntry(k.(datasource.Key))
		}
		return true
	})
}

// unscheduleConnections drops the plans and statuses of datasource id's
// connections (their token records are gone).
func (e *Engine) unscheduleConnections(id string) {
	for _, k := range e.sched.keysOf(id) {
		if k.EndUser != "" {
			e.sched.unschedule(k)
		}
	}
	e.mu.Lock()
	for k := range e.statuses {
		if k.Datasource == id && k.EndUser != "" {
			delete(e.statuses, k)
		}
	}
	e.mu.Unlock()
}

// now is the engine's time for createdAt and updatedAt: UTC, to the
// millisecond (what JSON and the stores keep).
func (e *Engine) now() time.Time { return e.clock.Now().UTC().Truncate(time.Millisecond) }

// interactive reports whether grant type g needs a person in a browser.
func interactive(g datasource.GrantType) bool {
	gr, err := Lookup(g)
	if err != nil {
		return true // an unknown grant gets no automatic token requests
	}
	_, ok := gr.(Interactive)
	return ok
}

// DatasourceByNameOrID returns the datasource with id nameOrID, or else
// the one of that name (compared without regard to case).
func (e *Engine) DatasourceByNameOrID(ctx context.Context, nameOrID string) (*datasource.Datasource, error) {
	d, err := e.store.Datasource(ctx, nameOrID)
	if errors.Is(err, datasource.ErrNotFound) {
		return e.store.DatasourceByName(ctx, nameOrID)
	}
	return d, err
}

// origin is the origin a URL of d sends to, templates filled with d's own
// connectionConfig (see datasource.TemplateOrigin): {shop}.myshopify.com
// and {shop}.example.com are different origins, as are two values of a
// datasource's {subdomain}.
func origin(d *datasource.Datasource, raw string) string {
	return datasource.TemplateOrigin(raw, d.ConnectionConfig)
}

// fillProvider fills d from the catalogue entry it names (provider.Fill):
// what the datasource leaves empty comes from the entry, and is stored as
// the datasource's own. An unknown provider is a *datasource.ValidationError
// on the field provider naming the close matches.
func fillProvider(d *datasource.Datasource) error {
	err := provider.Fill(d)
	var nf *provider.NotFoundError
	if errors.As(err, &nf) {
		msg := "is not in the catalogue (GET /api/v1/providers lists it)"
		if len(nf.Suggestions) > 0 {
			msg = "is not in the catalogue; did you mean " + strings.Join(nf.Suggestions, ", ") + "? (GET /api/v1/providers lists it)"
		}
		return &datasource.ValidationError{Errors: []datasource.FieldError{{Field: "provider", Message: msg}}}
	}
	return err
}
