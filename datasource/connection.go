package datasource

import (
	"errors"
	"strings"
	"time"
)

// ConnectionMode says whose tokens a datasource holds.
type ConnectionMode string

const (
	// Shared: one set of tokens for the datasource, used by every caller
	// (the default; wave 1's only mode).
	Shared ConnectionMode = "shared"
	// PerUser: one connection per end user of the app backend, each with
	// its own tokens, status and refresh schedule. Calls name the end user.
	PerUser ConnectionMode = "perUser"
)

// ConnectionModes lists the modes Validate accepts.
var ConnectionModes = []ConnectionMode{Shared, PerUser}

// Key names a token record: a shared datasource's (EndUser empty) or one
// end user's connection to a per-user datasource. It is comparable, so it
// serves as a map key.
type Key struct {
	Datasource string
	EndUser    string
}

// SharedKey is the key of datasource id's shared token record.
func SharedKey(id string) Key { return Key{Datasource: id} }

// String returns "ds_…" for a shared key and "ds_…/endUser" for a
// connection, for logs. End user ids hold no "/" (see ValidEndUserID).
func (k Key) String() string {
	if k.EndUser == "" {
		return k.Datasource
	}
	return k.Datasource + "/" + k.EndUser
}

// ParseKey is the inverse of Key.String.
func ParseKey(s string) Key {
	ds, user, _ := strings.Cut(s, "/")
	return Key{Datasource: ds, EndUser: user}
}

// MaxEndUserIDLen bounds an end user id.
const MaxEndUserIDLen = 256

// EndUserIDRule says what an end user id may be, for messages to callers.
const EndUserIDRule = "an end user id is 1–256 printable ASCII characters without / ? # % or space"

// ErrEndUserID is returned by ValidEndUserID.
var ErrEndUserID = errors.New("datasource: " + EndUserIDRule)

// ValidEndUserID checks an end user id as the app backend names its own
// user: 1–256 printable ASCII characters, none of / ? # % or space (so it
// is safe in a URL path segment and in a Key).
func ValidEndUserID(id string) error {
	if id == "" || len(id) > MaxEndUserIDLen {
		return ErrEndUserID
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c <= ' ' || c >= 0x7f || c == '/' || c == '?' || c == '#' || c == '%' {
			return ErrEndUserID
		}
	}
	return nil
}

// MaxEndUserFieldLen bounds EndUser's display name and email.
const MaxEndUserFieldLen = 256

// ValidateConnect checks what an app backend gives a connect session: the
// end user's id, how to show them, and their connectionConfig. The
// *ValidationError names every bad field.
func ValidateConnect(endUserID string, u EndUser, config map[string]string) error {
	v := &ValidationError{}
	if ValidEndUserID(endUserID) != nil {
		v.add("endUserId", "%s", EndUserIDRule)
	}
	if len(u.DisplayName) > MaxEndUserFieldLen || hasControl(u.DisplayName) {
		v.add("endUser.displayName", "must be at most %d printable characters", MaxEndUserFieldLen)
	}
	if len(u.Email) > MaxEndUserFieldLen || hasControl(u.Email) || strings.ContainsAny(u.Email, " <>") {
		v.add("endUser.email", "must be an email address of at most %d characters", MaxEndUserFieldLen)
	}
	checkConfig(v, "connectionConfig", config)
	if len(v.Errors) == 0 {
		return nil
	}
	return v
}

// EndUser describes an end user for people looking at connections. It is
// what the app backend said when it created the connect session.
type EndUser struct {
	DisplayName string `json:"displayName,omitempty"`
	Email       string `json:"email,omitempty"`
}

// Connection is one end user's account on a per-user datasource. Its
// tokens and status are the token record of Key{DatasourceID, EndUserID}.
type Connection struct {
	DatasourceID string
	EndUserID    string
	EndUser      EndUser
	// Config fills the datasource's {placeholders} for this connection,
	// over the datasource's own connectionConfig.
	Config    map[string]string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ConfigFor returns the connectionConfig that applies to connection c of
// datasource d: c's values over d's. c may be nil (a shared datasource).
// The maps are not modified.
func ConfigFor(d *Datasource, c *Connection) map[string]string {
	if c == nil || len(c.Config) == 0 {
		return d.ConnectionConfig
	}
	if len(d.ConnectionConfig) == 0 {
		return c.Config
	}
	m := make(map[string]string, len(d.ConnectionConfig)+len(c.Config))
	for k, v := range d.ConnectionConfig {
		m[k] = v
	}
	for k, v := range c.Config {
		m[k] = v
	}
	return m
}

// Key returns the key of c's token record.
func (c *Connection) Key() Key { return Key{Datasource: c.DatasourceID, EndUser: c.EndUserID} }

// ConnectionQuery selects connections of one datasource, in end user id
// order, a page at a time.
type ConnectionQuery struct {
	DatasourceID string
	// Status keeps only connections in this status; empty keeps all.
	Status Status
	// Prefix keeps only end user ids that start with it (a search).
	Prefix string
	// After is the cursor: only end user ids after it, in byte order.
	// Empty starts at the beginning.
	After string
	// Limit is the page size; default and maximum MaxConnectionPage.
	Limit int
}

// MaxConnectionPage bounds a page of connections.
const MaxConnectionPage = 500

// ConnectionState is a connection with the schedule view of its token
// record (its status, without unsealing any token).
type ConnectionState struct {
	Connection *Connection
	Schedule   Schedule
}

// HealthCheck is a datasource's probe: a request through the proxy path
// whose answer says whether a connection works.
type HealthCheck struct {
	Method string `json:"method"`
	// Path is relative to the datasource's URL, like a proxied path.
	Path string `json:"path"`
	// ExpectStatus lists the statuses that mean healthy; default [200].
	ExpectStatus []int `json:"expectStatus,omitempty"`
	// IntervalSeconds is how often to run it; default 21600 (6 h),
	// minimum 60.
	IntervalSeconds int `json:"intervalSeconds,omitempty"`
}

// Defaults of a HealthCheck.
const (
	DefaultHealthInterval = 6 * time.Hour
	MinHealthInterval     = time.Minute
)

// Interval returns how often the check runs.
func (h *HealthCheck) Interval() time.Duration {
	if h == nil || h.IntervalSeconds <= 0 {
		return DefaultHealthInterval
	}
	return max(time.Duration(h.IntervalSeconds)*time.Second, MinHealthInterval)
}

// Expects reports whether status means healthy.
func (h *HealthCheck) Expects(status int) bool {
	if len(h.ExpectStatus) == 0 {
		return status == 200
	}
	for _, s := range h.ExpectStatus {
		if s == status {
			return true
		}
	}
	return false
}

// Health is the outcome of the last health check.
type Health struct {
	OK        bool      `json:"ok"`
	CheckedAt time.Time `json:"checkedAt"`
	// Status is the upstream's HTTP status, 0 when no request was made.
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// Reasons a connection failed, on connection.failed events.
const (
	ReasonRevoked             = "revoked"
	ReasonInvalidClient       = "invalid_client"
	ReasonProviderUnavailable = "provider_unavailable"
	ReasonHealthCheckFailed   = "health_check_failed"
	ReasonConfiguration       = "configuration"
)
