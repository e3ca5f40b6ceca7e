package sealed

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"time"

	"github.com/grantd/grantd/datasource"
)

type agentSessionRecord struct {
	V           int       `json:"v"`
	ID          string    `json:"id"`
	EndUserID   string    `json:"endUserId"`
	Datasources []string  `json:"datasources"`
	Hash        []byte    `json:"sha256"`
	CreatedAt   time.Time `json:"createdAt"`
	ExpiresAt   time.Time `json:"expiresAt"`
	CreatedBy   string    `json:"createdBy,omitempty"`
}

// EncodeAgentSession returns the stored form of s, stored under its id.
// The token is not in it, only its hash — authenticated like every
// record, so a hash, an end user or a datasource list written behind
// grantd's back is refused.
func (c Codec) EncodeAgentSession(s *datasource.AgentSession) ([]byte, error) {
	b, err := json.Marshal(&agentSessionRecord{V: Version, ID: s.ID, EndUserID: s.EndUserID, Datasources: s.Datasources,
		Hash: s.Hash[:], CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt, CreatedBy: s.CreatedBy})
	if err != nil {
		return nil, err
	}
	return c.Wrap(KindAgentSession, s.ID, b)
}

// DecodeAgentSession reads the agent session stored under id. It returns
// a *RecordError for a record that does not authenticate.
func (c Codec) DecodeAgentSession(id string, b []byte) (*datasource.AgentSession, error) {
	rec, err := c.Unwrap(KindAgentSession, id, b)
	if err != nil {
		return nil, err
	}
	var r agentSessionRecord
	if err := json.Unmarshal(rec, &r); err != nil || r.V != Version || r.ID != id || len(r.Hash) != sha256.Size {
		return nil, fmt.Errorf("%w: agentsession", ErrFormat)
	}
	return &datasource.AgentSession{ID: r.ID, EndUserID: r.EndUserID, Datasources: r.Datasources, Hash: [sha256.Size]byte(r.Hash),
		CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt, CreatedBy: r.CreatedBy}, nil
}
