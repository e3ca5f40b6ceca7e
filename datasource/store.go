package datasource

import (
	"context"
	"errors"
	"time"
)

// Errors returned by Store implementations. Check with errors.Is.
var (
	// ErrNotFound is returned when a datasource, token record or state does
	// not exist (or, for a state, was already used).
	ErrNotFound = errors.New("datasource: not found")
	// ErrDuplicateName is returned when another datasource has the name,
	// compared without regard to case (see NameKey).
	ErrDuplicateName = errors.New("datasource: name already in use")
	// ErrConflict is returned by SaveTokenRecord when the stored generation
	// is not the expected one: somebody else changed the token first.
	ErrConflict = errors.New("datasource: token changed concurrently")
	// ErrUnavailable is returned when the store cannot take writes right
	// now (a distributed store without quorum, say).
	ErrUnavailable = errors.New("datasource: store unavailable")
	// ErrTampered is returned when a stored record does not authenticate:
	// it was changed, or copied from under another key, by something
	// other than grantd (someone with write access to the bbolt file or
	// to etcd), or it was written with a keyset this store does not hold.
	// The store refuses that one record as unreadable and logs it; every
	// other record stays usable. It is not ErrNotFound: the record is
	// there, and nothing should take its place without a person looking.
	ErrTampered = errors.New("datasource: stored record failed authentication")
)

// Store persists datasources, their token records and pending authorization
// states. Implementations seal secrets (client secrets, tokens, verifiers)
// before writing them, authenticate every record they write, make every
// write atomic, and are safe for concurrent use.
//
// A record that does not authenticate is refused on its own: a read of it
// returns ErrTampered (wrapped, naming the kind and key), a listing
// (ListDatasources, Schedules, ListEvents, DueDeliveries, NextDelivery)
// skips it, and the store logs it. A write that depends on what it held
// (UpdateDatasource, SaveTokenRecord) returns ErrTampered; one that
// replaces or removes it (SetMeta, DeleteDatasource, DeleteTokenRecord)
// goes ahead, so an operator can clear it.
type Store interface {
	Datasources
	Tokens
	Connections
	States
	Meta
	APIKeys
	// Close releases the store. Nothing may be called after it.
	Close() error
}

// Datasources is the datasource part of a Store.
type Datasources interface {
	// CreateDatasource stores a new datasource. d.ID must be set and unused.
	// It returns ErrDuplicateName if the name is taken.
	CreateDatasource(ctx context.Context, d *Datasource) error
	// Datasource returns the datasource with id, or ErrNotFound.
	Datasource(ctx context.Context, id string) (*Datasource, error)
	// DatasourceByName returns the datasource named name, compared
	// without regard to case, or ErrNotFound.
	DatasourceByName(ctx context.Context, name string) (*Datasource, error)
	// ListDatasources returns all datasources ordered by name.
	ListDatasources(ctx context.Context) ([]*Datasource, error)
	// UpdateDatasource replaces the stored datasource with d.ID. When the
	// change makes the old tokens wrong (see Datasource.KeepsTokens) its
	// token records — the shared one and every connection's — are erased
	// in the same transaction, and erased reports it; the connections
	// themselves stay, unauthorized. A change of connection mode erases
	// them too. It returns ErrNotFound or ErrDuplicateName.
	UpdateDatasource(ctx context.Context, d *Datasource) (erased bool, err error)
	// DeleteDatasource removes the datasource, its token records, its
	// connections and its pending states. It returns ErrNotFound if there
	// is none.
	DeleteDatasource(ctx context.Context, id string) error
}

// Tokens is the token-record part of a Store. A token record belongs to
// a Key: a shared datasource's (EndUser empty) or one connection's.
type Tokens interface {
	// TokenRecord returns the token record of k, or ErrNotFound when there
	// is none.
	TokenRecord(ctx context.Context, k Key) (*TokenRecord, error)
	// SaveTokenRecord stores r for k if the stored record's generation is
	// prev (0 when there is none); otherwise it returns ErrConflict and
	// changes nothing. It returns ErrNotFound when the datasource (for a
	// connection: the connection) no longer exists, so a late refresh
	// cannot resurrect it.
	SaveTokenRecord(ctx context.Context, k Key, r *TokenRecord, prev uint64) error
	// DeleteTokenRecord erases the token record of k; no record is not an
	// error.
	DeleteTokenRecord(ctx context.Context, k Key) error
	// TokenSchedule returns the schedule view of k's token record (zero
	// but for GrantType when it has none) without unsealing anything, or
	// ErrNotFound for an unknown datasource or connection.
	TokenSchedule(ctx context.Context, k Key) (Schedule, error)
	// Schedules calls fn with the planning view of every token record —
	// once per shared datasource (zero but for GrantType when it has
	// none) and once per connection — without unsealing anything. It stops
	// at the first error fn returns.
	Schedules(ctx context.Context, fn func(k Key, s Schedule) error) error
}

// Connections is the per-user part of a Store: the end users' accounts on
// per-user datasources. A connection's tokens are the token record of its
// Key.
type Connections interface {
	// SaveConnection creates or replaces the connection of c's datasource
	// and end user. Replacing keeps the stored CreatedAt (reconnecting
	// keeps the connection) and reports created false. It returns
	// ErrNotFound when the datasource does not exist.
	SaveConnection(ctx context.Context, c *Connection) (created bool, err error)
	// Connection returns one connection, or ErrNotFound.
	Connection(ctx context.Context, datasourceID, endUserID string) (*Connection, error)
	// ListConnections returns a page of q's connections in end user id
	// order with the schedule view of each token record, and the cursor of
	// the next page ("" after the last).
	ListConnections(ctx context.Context, q ConnectionQuery) (page []ConnectionState, next string, err error)
	// DeleteConnection removes a connection and its token record. It
	// returns ErrNotFound if there is none.
	DeleteConnection(ctx context.Context, datasourceID, endUserID string) error
}

// States is the pending-authorization part of a Store.
type States interface {
	// SaveState stores a new pending state.
	SaveState(ctx context.Context, s *State) error
	// State returns the state with key without consuming it, or
	// ErrNotFound. Expired states are returned too. A callback reads the
	// state first so that a request it must refuse (a browser without the
	// binding cookie) does not use it up for the right one.
	State(ctx context.Context, key string) (*State, error)
	// ConsumeState removes and returns the state with key, atomically: of
	// two concurrent calls at most one gets it. It returns ErrNotFound for
	// an unknown or already used key. Expired states are returned too;
	// the caller checks expiry.
	ConsumeState(ctx context.Context, key string) (*State, error)
	// PurgeStates removes states that expired before now and says how many.
	PurgeStates(ctx context.Context, now time.Time) (int, error)
}

// Meta holds small named values of the installation (the admin token hash,
// the session key). Values are not sealed by the store (callers seal what
// is secret) but are authenticated like every stored record: a value
// changed outside grantd reads as ErrTampered.
type Meta interface {
	// Meta returns the value of key, ErrNotFound, or ErrTampered.
	Meta(ctx context.Context, key string) ([]byte, error)
	// SetMeta stores value under key.
	SetMeta(ctx context.Context, key string, value []byte) error
}

// MetaCreator is an optional capability of a Store that several processes
// share. CreateMeta stores value under key only if the key holds nothing
// yet, atomically, and reports whether this call stored it: replicas
// starting together agree on one value (the admin token hash, the session
// key) instead of each overwriting the last. datasource/etcd implements
// it; a store one process owns (datasource/bolt) needs none, since Meta
// then SetMeta cannot race.
type MetaCreator interface {
	CreateMeta(ctx context.Context, key string, value []byte) (created bool, err error)
}

// Watcher is an optional capability of a Store that several processes
// share. Watch calls changed for every datasource (EndUser empty) whose
// record or token record, and every connection whose record or token
// record, another process creates, changes or deletes, and blocks until
// ctx ends. Calls come one at a time. It outlives lost connections; when it
// cannot tell what changed meanwhile it reports every datasource, so an id
// may be reported twice, or for a write of this process, but a change is
// never missed. A process that keeps copies (the engine's token cache)
// refreshes or drops them on the calls. datasource/etcd implements it.
type Watcher interface {
	Watch(ctx context.Context, changed func(Change))
}

// Change is what a Watcher reports: the key whose records changed, and
// whether only its token record did (another replica's refresh: the
// datasource or connection record as cached is still current).
type Change struct {
	Key   Key
	Token bool
}
