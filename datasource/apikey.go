package datasource

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Permission is what an API key may do.
type Permission string

// The permissions. Each API route checks exactly one.
const (
	// PermRead: read datasources, their statuses and events.
	PermRead Permission = "read"
	// PermWrite: create, change and delete datasources, start and end
	// their authorizations.
	PermWrite Permission = "write"
	// PermProxy: call datasources through the proxy.
	PermProxy Permission = "proxy"
	// PermToken: have the opt-in token endpoint hand tokens out.
	PermToken Permission = "token"
	// PermConnect: create connect sessions and manage connections.
	PermConnect Permission = "connect"
	// PermMCP: call datasources as tools over MCP.
	PermMCP Permission = "mcp"
	// PermAdmin: everything, API keys included.
	PermAdmin Permission = "admin"
)

// Permissions lists every Permission.
var Permissions = []Permission{PermRead, PermWrite, PermProxy, PermToken, PermConnect, PermMCP, PermAdmin}

// APIKey is a credential a program calls grantd with: what it may do
// (Permissions) on which datasources (all when Datasources is empty). Only
// a hash of the key itself is kept.
type APIKey struct {
	// ID is public ("key_…"); the key presented is "gk_<id>_<secret>".
	ID          string
	Name        string
	Permissions []Permission
	// Datasources limits the key to these datasources, by id or by name
	// (compared as NameKey): a datasource created later under a listed
	// name is covered.
	Datasources []string
	// Hash is the SHA-256 of the whole key.
	Hash       [sha256.Size]byte
	CreatedAt  time.Time
	CreatedBy  string
	LastUsedAt time.Time
}

// Allows reports whether k grants p (admin grants everything).
func (k *APIKey) Allows(p Permission) bool {
	return slices.Contains(k.Permissions, p) || slices.Contains(k.Permissions, PermAdmin)
}

// Covers reports whether k may act on datasource d.
func (k *APIKey) Covers(d *Datasource) bool {
	if len(k.Datasources) == 0 {
		return true
	}
	for _, x := range k.Datasources {
		if x == d.ID || NameKey(x) == NameKey(d.Name) {
			return true
		}
	}
	return false
}

// Validate checks a key's name, permissions and datasources.
func (k *APIKey) Validate() error {
	v := &ValidationError{}
	if n := strings.TrimSpace(k.Name); n == "" || len(n) > MaxNameLen || hasControl(n) {
		v.add("name", "must be 1–%d printable characters", MaxNameLen)
	}
	if len(k.Permissions) == 0 {
		v.add("permissions", "must name at least one of %s", quoteList(Permissions))
	}
	for _, p := range k.Permissions {
		if !slices.Contains(Permissions, p) {
			v.add("permissions", "%q is not one of %s", truncate(string(p), 40), quoteList(Permissions))
			break
		}
	}
	if len(k.Datasources) > maxParams {
		v.add("datasources", "must list at most %d", maxParams)
	}
	for _, d := range k.Datasources {
		if d == "" || len(d) > MaxNameLen*4 || hasControl(d) {
			v.add("datasources", "must hold datasource names or ids")
			break
		}
	}
	if len(v.Errors) == 0 {
		return nil
	}
	return v
}

// APIKeys is an optional part of a Store: the API keys.
type APIKeys interface {
	// CreateAPIKey stores a new key; its ID must be unused.
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// APIKeys returns every key, oldest first. A key that does not
	// authenticate is left out.
	APIKeys(ctx context.Context) ([]*APIKey, error)
	// DeleteAPIKey removes a key, or returns ErrNotFound.
	DeleteAPIKey(ctx context.Context, id string) error
	// TouchAPIKeys records when keys were last used (id → time); unknown
	// ids are skipped. It is called at most about once a minute.
	TouchAPIKeys(ctx context.Context, used map[string]time.Time) error
}

// APIKeyWatcher is an optional capability of a shared store: WatchAPIKeys
// calls changed whenever another process creates or deletes an API key,
// until ctx ends, so that a key revoked on one replica is refused on all.
type APIKeyWatcher interface {
	WatchAPIKeys(ctx context.Context, changed func())
}

func (p Permission) String() string { return string(p) }

var _ fmt.Stringer = PermRead
