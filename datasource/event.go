package datasource

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// Event types. Status changes are what webhooks exist for; the others are
// the audit trail.
const (
	EventCreated           = "datasource.created"
	EventUpdated           = "datasource.updated"
	EventDeleted           = "datasource.deleted"
	EventAuthorizeStarted  = "authorization.started"
	EventAuthorizeComplete = "authorization.completed"
	EventAuthorizeFailed   = "authorization.failed"
	EventRevoked           = "tokens.revoked"
	EventTokenExposed      = "token.handed_out"
	EventStatusChanged     = "status.changed"
	EventAPIKeyCreated     = "api_key.created"
	EventAPIKeyRevoked     = "api_key.revoked"
	EventAgentSessionMade  = "agent_session.created"
	EventAgentSessionEnded = "agent_session.revoked"
	// EventMCPToolCall is an agent's tool call over MCP: Tool, and for
	// call_datasource Method, Path and HTTPStatus.
	EventMCPToolCall = "mcp.tool_called"

	// Per-user datasources: the same happenings for one end user's
	// connection, with EndUserID set.
	EventConnectStarted        = "connection.connect_started"
	EventConnectionCreated     = "connection.created"
	EventConnectionReauthorize = "connection.reauthorized"
	EventConnectionFailed      = "connection.failed"
	EventConnectionRecovered   = "connection.recovered"
	EventConnectionDeleted     = "connection.deleted"
)

// Event is something that happened to a datasource: a status change, or an
// action somebody took. It never holds a secret.
type Event struct {
	// ID is unique and sorts by time ("ev_" + hex).
	ID             string    `json:"id"`
	Type           string    `json:"type"`
	Time           time.Time `json:"time"`
	DatasourceID   string    `json:"datasourceId"`
	DatasourceName string    `json:"datasourceName,omitempty"`
	// Actor is who did it: "token:<8 hex of the admin token's SHA-256>",
	// "session:<8 hex>", or "grantd" for the engine itself.
	Actor string `json:"actor"`
	// Status and PreviousStatus are set on status changes.
	Status         Status `json:"status,omitempty"`
	PreviousStatus Status `json:"previousStatus,omitempty"`
	// Detail says more in words (lastError, the provider's error).
	Detail string `json:"detail,omitempty"`
	// EndUserID names the end user of a per-user datasource's connection.
	EndUserID string `json:"endUserId,omitempty"`
	// Reason classifies a connection.failed (datasource.ReasonRevoked, …).
	Reason string `json:"reason,omitempty"`
	// Tool, Method, Path and HTTPStatus describe an agent's tool call
	// (EventMCPToolCall): the tool, the request line without its query,
	// and the upstream's status (0 when no answer came).
	Tool       string `json:"tool,omitempty"`
	Method     string `json:"method,omitempty"`
	Path       string `json:"path,omitempty"`
	HTTPStatus int    `json:"httpStatus,omitempty"`
}

// NewEventID returns an id that sorts by t.
func NewEventID(t time.Time) string {
	var b [12]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixNano()))
	rand.Read(b[8:])
	return "ev_" + hex.EncodeToString(b[:])
}

// EventQuery selects events, newest first.
type EventQuery struct {
	DatasourceID string // empty: all
	EndUserID    string // empty: all; else one end user's connection events
	Before       string // an event id: only older ones (paging)
	Limit        int    // default and maximum 500
}

// Matches reports whether e is one of the events q asks for (apart from
// paging).
func (q EventQuery) Matches(e *Event) bool {
	return (q.DatasourceID == "" || e.DatasourceID == q.DatasourceID) &&
		(q.EndUserID == "" || e.EndUserID == q.EndUserID)
}

// Delivery is one pending webhook delivery of an event to a URL.
type Delivery struct {
	EventID  string    `json:"eventId"`
	URL      string    `json:"url"`
	Attempts int       `json:"attempts"`
	NextAt   time.Time `json:"nextAt"`
	// LastError describes the last failed attempt.
	LastError string `json:"lastError,omitempty"`
}

// EventLog is an optional capability of a Store: the record of what
// happened, kept up to a cap and listed newest first.
//
// A store that keeps an EventLog is also an Outbox, and EventLog owns the
// atomicity between them: AppendEvents records events and queues their
// deliveries in one transaction, so an event is never recorded without
// being queued, or queued without being recorded. Both stores
// (datasource/bolt, datasource/etcd) implement it and are safe for
// concurrent use.
type EventLog interface {
	// AppendEvents stores events and, for each, queues one Delivery per
	// URL in deliverTo, due at the event's time. Each event is written in
	// the same transaction as its deliveries (a store may split a long
	// batch over several transactions). An event whose id is already
	// stored is skipped and queues nothing. Old events beyond the store's
	// cap are dropped; pending deliveries are kept.
	AppendEvents(ctx context.Context, events []*Event, deliverTo []string) error
	// ListEvents returns events matching q, newest first.
	ListEvents(ctx context.Context, q EventQuery) ([]*Event, error)
	// Event returns the event with id, or ErrNotFound (also when it aged
	// out of the log).
	Event(ctx context.Context, id string) (*Event, error)
}

// Outbox is the queue of pending webhook deliveries beside an EventLog.
// Deliveries enter it only through EventLog.AppendEvents, in the
// transaction that records their event, and leave it through
// FinishDelivery. Claims are leased, so that a crashed or second process
// hands a delivery out again rather than losing it: delivery is at least
// once.
type Outbox interface {
	// DueDeliveries claims up to limit deliveries due at now: their NextAt
	// moves to now+lease, so another process (or a crash) hands them out
	// again only after the lease.
	DueDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*Delivery, error)
	// NextDelivery returns when the earliest pending delivery is due;
	// ok is false when none is pending.
	NextDelivery(ctx context.Context) (at time.Time, ok bool, err error)
	// FinishDelivery removes a delivered (or abandoned) one.
	FinishDelivery(ctx context.Context, d *Delivery) error
	// RetryDelivery stores a failed attempt of d (Attempts, NextAt,
	// LastError as set by the caller); a delivery finished meanwhile stays
	// finished.
	RetryDelivery(ctx context.Context, d *Delivery) error
}
