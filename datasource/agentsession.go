package datasource

import (
	"context"
	"crypto/sha256"
	"time"
)

// MaxAgentSessionTTL bounds an agent session's life.
const MaxAgentSessionTTL = 24 * time.Hour

// MaxAgentSessionDatasources bounds the datasources one agent session
// names.
const MaxAgentSessionDatasources = maxParams

// AgentSession is a short-lived credential for an agent (an MCP client):
// it calls the datasources it names, as one end user, until it expires or
// is revoked. Only a hash of its token is kept.
type AgentSession struct {
	// ID is public ("as_…"); the token presented is "ga_<hex>_<secret>".
	ID string
	// EndUserID is the end user whose connections the session uses for
	// per-user datasources (shared datasources ignore it).
	EndUserID string
	// Datasources are the ids of the datasources the session may call,
	// resolved when it was made: a datasource deleted and made again
	// under the same name is not covered.
	Datasources []string
	// Hash is the SHA-256 of the whole token.
	Hash      [sha256.Size]byte
	CreatedAt time.Time
	ExpiresAt time.Time
	// CreatedBy is the actor that made it (an API key, the admin token).
	CreatedBy string
}

// Expired reports whether the session has expired at now.
func (s *AgentSession) Expired(now time.Time) bool { return !now.Before(s.ExpiresAt) }

// Covers reports whether the session may call datasource id.
func (s *AgentSession) Covers(id string) bool {
	for _, d := range s.Datasources {
		if d == id {
			return true
		}
	}
	return false
}

// Validate checks a session's end user, datasources and lifetime.
func (s *AgentSession) Validate() error {
	v := &ValidationError{}
	if err := ValidEndUserID(s.EndUserID); err != nil {
		v.add("endUserId", "%s", EndUserIDRule)
	}
	if len(s.Datasources) == 0 {
		v.add("datasources", "must name at least one datasource")
	}
	if len(s.Datasources) > MaxAgentSessionDatasources {
		v.add("datasources", "must list at most %d", MaxAgentSessionDatasources)
	}
	for _, d := range s.Datasources {
		if d == "" || len(d) > MaxNameLen*4 || hasControl(d) {
			v.add("datasources", "must hold datasource names or ids")
			break
		}
	}
	if ttl := s.ExpiresAt.Sub(s.CreatedAt); ttl <= 0 || ttl > MaxAgentSessionTTL {
		v.add("ttlSeconds", "must be 1–%d", int(MaxAgentSessionTTL.Seconds()))
	}
	if len(v.Errors) == 0 {
		return nil
	}
	return v
}

// AgentSessions is an optional part of a Store: agent sessions, by id.
type AgentSessions interface {
	// CreateAgentSession stores a new session; its ID must be unused.
	CreateAgentSession(ctx context.Context, s *AgentSession) error
	// AgentSession returns the session with id, or ErrNotFound. A
	// session that does not authenticate is ErrTampered.
	AgentSession(ctx context.Context, id string) (*AgentSession, error)
	// AgentSessions returns every stored session, oldest first. One that
	// does not authenticate is left out.
	AgentSessions(ctx context.Context) ([]*AgentSession, error)
	// DeleteAgentSession removes a session, or returns ErrNotFound.
	DeleteAgentSession(ctx context.Context, id string) error
	// PurgeAgentSessions removes the sessions expired at now and returns
	// how many.
	PurgeAgentSessions(ctx context.Context, now time.Time) (int, error)
}

// AgentSessionWatcher is an optional capability of a shared store:
// WatchAgentSessions calls deleted with the id of every agent session
// another process deletes (a revocation), and with "" when the watch was
// lost and anything may have been deleted meanwhile, until ctx ends.
type AgentSessionWatcher interface {
	WatchAgentSessions(ctx context.Context, deleted func(id string))
}
